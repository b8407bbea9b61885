"""Models as the API shows them: plain dicts in the shapes of generations.api.schemas,
built from what the selectors fetched (no query of their own)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from generations import catalog, projects
from generations.models import ApiToken, Attempt, Generation, Image, Project, Submission
from generations.permissions import roles_in
from generations.selectors import GenerationCharges, Spend
from generations.serving import KINDS
from generations.types import User


class Links:
    """The URLs a response links to, from the API's root resolved once per response: a
    list page links ~350 times, and reverse() each time was a third of its time. The
    paths are the operations' (tests follow every link kind back to its operation)."""

    def __init__(self, request: HttpRequest) -> None:
        self.root = request.build_absolute_uri(reverse("api:api-root"))

    def generation(self, generation_id: int) -> str:
        return f"{self.root}generations/{generation_id}"

    def image(self, image_id: int, kind: str) -> str:
        return f"{self.root}images/{image_id}/{kind}"


def token(api_token: ApiToken) -> dict[str, Any]:
    return {
        "name": api_token.name,
        "prefix": api_token.prefix,
        "scope": api_token.scope,
        "created_at": api_token.created_at,
        "last_used_at": api_token.last_used_at,
    }


def project(project: Project, *, user: User) -> dict[str, Any]:
    models = projects.project_models(project)
    default_model = projects.project_default_model(project)
    return {
        "slug": project.slug,
        "name": project.name,
        "roles": sorted(role.value for role in roles_in(user, project)),
        "review_required": project.review_required,
        "four_eyes": project.four_eyes,
        "final_size": project.final_size,
        "default_model_key": default_model,
        "default_preview_size": projects.project_default_preview_size(project, default_model),
        "models": [_model(model) for model in models],
    }


def _model(model: catalog.ModelEntry) -> dict[str, Any]:
    return {
        "key": model.key,
        "label": model.label,
        "aspect_ratios": list(model.aspect_ratios),
        "preview_sizes": list(model.preview_sizes),
        "final_size": model.final_size,
        "simulated": model.simulated,
    }


def submission(
    links: Links, submission: Submission, generations: list[Generation]
) -> dict[str, Any]:
    return {
        "id": submission.pk,
        "project": submission.project.slug,
        "prompt": submission.prompt,
        "model_key": submission.model_key,
        "final_model_key": submission.final_model,
        "aspect_ratio": submission.aspect_ratio,
        "preview_size": submission.preview_size,
        "final_size": submission.final_size,
        "variants": submission.variants,
        "created_by": submission.created_by.get_username(),
        "created_at": submission.created_at,
        "parent_generation_id": submission.parent_id,
        "generations": [
            {
                "id": generation.pk,
                "variant": generation.variant,
                "state": generation.state,
                "url": links.generation(generation.pk),
            }
            for generation in generations
        ],
    }


def generation(links: Links, generation: Generation, *, spend: dict[int, Spend]) -> dict[str, Any]:
    """A generation with its attempts (prefetched), what each was charged (`spend`, by
    attempt id) and its images (prefetched)."""
    attempts = list(generation.attempts.all())
    charges = GenerationCharges({a.pk: spend[a.pk] for a in attempts if a.pk in spend})
    submission = generation.submission
    return {
        "id": generation.pk,
        "url": links.generation(generation.pk),
        "project": generation.project.slug,
        "submission": {
            "id": submission.pk,
            "prompt": submission.prompt,
            "model_key": submission.model_key,
            "final_model_key": submission.final_model,
            "aspect_ratio": submission.aspect_ratio,
            "preview_size": submission.preview_size,
            "final_size": submission.final_size,
            "created_by": submission.created_by.get_username(),
            "parent_generation_id": submission.parent_id,
        },
        "variant": generation.variant,
        "seed": generation.seed,
        "state": generation.state,
        "state_label": generation.state_label,
        "state_changed_at": generation.state_changed_at,
        "created_at": generation.created_at,
        "attempt_count": generation.attempt_count,
        "next_attempt_at": generation.next_attempt_at,
        "waiting_reason": generation.waiting_reason,
        "last_error": generation.last_error,
        "escalation_strategy": generation.escalation_strategy,
        "final_lane": generation.final_lane,
        "not_before": generation.not_before,
        "attempts": [_attempt(attempt, spend.get(attempt.pk)) for attempt in attempts],
        "charges": {"total_usd": charges.total, "simulated": charges.simulated},
        "images": [image(links, each) for each in generation.images.all()],
    }


def generation_detail(
    links: Links, generation_: Generation, *, spend: dict[int, Spend]
) -> dict[str, Any]:
    """generation() plus its timeline (transitions prefetched, with their actors)."""
    return {
        **generation(links, generation_, spend=spend),
        "timeline": [
            {
                "from_state": transition.from_state,
                "to_state": transition.to_state,
                "actor_kind": transition.actor_kind,
                "actor": transition.actor.get_username() if transition.actor else None,
                "reason": transition.reason,
                "attempt": transition.attempt,
                "at": transition.created_at,
            }
            for transition in generation_.transitions.all()
        ],
    }


def _attempt(attempt: Attempt, spend: Spend | None) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "phase": attempt.phase,
        "size": attempt.size,
        "provider": attempt.provider,
        "model_id": attempt.model_id,
        "started_at": attempt.started_at,
        "finished_at": attempt.finished_at,
        "outcome": attempt.outcome,
        "latency_ms": attempt.latency_ms,
        "error_kind": attempt.error_kind,
        "error_message": attempt.error_message,
        "retryable": attempt.retryable,
        "strategy": attempt.strategy,
        "input_images": attempt.input_images,
        "charge": None
        if spend is None
        else {
            "charged_usd": spend.charged,
            "unit_price_usd": spend.unit_price,
            "simulated": spend.simulated,
            "corrected": spend.corrected,
        },
    }


def image(links: Links, image: Image) -> dict[str, Any]:
    downloads = {
        kind: links.image(image.pk, kind) if getattr(image, kind).name else None for kind in KINDS
    }
    return {
        "id": image.pk,
        "phase": image.phase,
        "width": image.width,
        "height": image.height,
        "mime_type": image.mime_type,
        "byte_size": image.byte_size,
        "sha256": image.sha256,
        "native": image.native,
        "note": image.note,
        "fidelity": None
        if image.fidelity_ssim is None
        else {"ssim": image.fidelity_ssim, "hash_distance": image.fidelity_hash_distance},
        "downloads": downloads,
    }
