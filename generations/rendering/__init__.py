"""The worker side: claiming jobs, calling providers, retries and fallback, rate limits,
the sweeper."""
