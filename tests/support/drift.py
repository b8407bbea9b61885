"""A seed whose prompt-only final drifts from its preview on the local renderer.

Like a hosted model, the local one recomposes a prompt-only final at another size more for
some seeds than for others (SSIM to the 1K preview from ~0.2 to ~0.7 over 30 seeds of the
prompt below; the projects' default threshold is 0.6). Tests that need a final held for
its reviewer pin this seed, so they do not depend on the draw: 0.275 at 1K → 2K.
"""

DRIFTING_PROMPT = "a red fox in fresh snow at dawn"
DRIFTING_SEED = 2127877499
