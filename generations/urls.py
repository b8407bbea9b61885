from django.urls import path

from generations.views import (
    batches,
    compare,
    gallery,
    generation,
    health,
    live,
    media,
    notifications,
    projects,
    quality,
    reports,
    review,
    review_canvas,
    studio,
    tokens,
    webhooks,
)

urlpatterns = [
    path("", studio.home, name="home"),
    path("p/<slug:slug>/", studio.project_studio, name="project"),
    path("p/<slug:slug>/submit/", studio.submission_create, name="submission_create"),
    path("p/<slug:slug>/estimate/", studio.submission_estimate, name="submission_estimate"),
    path("p/<slug:slug>/uploads/", studio.upload_create, name="upload_create"),
    path("p/<slug:slug>/settings/", projects.project_settings, name="project_settings"),
    path("p/<slug:slug>/budgets/", projects.project_budget_set, name="project_budget_set"),
    path("p/<slug:slug>/members/", projects.project_members, name="project_members"),
    # Batches (issue 18): plan from a CSV or a prompt matrix, queue, follow.
    path("p/<slug:slug>/batches/", batches.batch_list, name="batch_list"),
    path("p/<slug:slug>/batches/csv/", batches.batch_plan_csv, name="batch_plan_csv"),
    path("p/<slug:slug>/batches/matrix/", batches.batch_plan_matrix, name="batch_plan_matrix"),
    path("batches/<int:pk>/", batches.batch_page, name="batch"),
    path("batches/<int:pk>/queue/", batches.batch_queue, name="batch_queue"),
    path("batches/<int:pk>/discard/", batches.batch_discard, name="batch_discard"),
    # Signed webhooks (issue 18), for project admins.
    path("webhooks/", webhooks.webhooks_home, name="webhooks_home"),
    path("p/<slug:slug>/webhooks/", webhooks.webhook_list, name="webhook_list"),
    path("p/<slug:slug>/webhooks/<int:pk>/", webhooks.webhook_page, name="webhook"),
    path(
        "p/<slug:slug>/webhooks/<int:pk>/<str:action>/",
        webhooks.webhook_action,
        name="webhook_action",
    ),
    path(
        "p/<slug:slug>/webhooks/<int:pk>/deliveries/<int:delivery_id>/replay/",
        webhooks.webhook_replay,
        name="webhook_replay",
    ),
    path("g/<int:pk>/", generation.generation_page, name="generation"),
    path("g/<int:pk>/card/", generation.generation_card, name="generation_card"),
    path("cards/live/", live.cards_live, name="cards_live"),
    path("g/<int:pk>/approve/", generation.generation_approve, name="generation_approve"),
    path("g/<int:pk>/reject/", generation.generation_reject, name="generation_reject"),
    path("g/<int:pk>/cancel/", generation.generation_cancel, name="generation_cancel"),
    path("g/<int:pk>/retry/", generation.generation_retry, name="generation_retry"),
    path(
        "g/<int:pk>/differs/",
        generation.generation_final_differs,
        name="generation_final_differs",
    ),
    path("g/<int:pk>/revise/", generation.generation_revise, name="generation_revise"),
    path("edit/", generation.picture_edit, name="picture_edit"),
    path(
        "g/<int:pk>/request-changes/",
        generation.generation_request_changes,
        name="generation_request_changes",
    ),
    path("g/<int:pk>/comments/", generation.comment_create, name="comment_create"),
    path("review/", review.review_list, name="review"),
    path("review/<int:pk>/decide/", review.review_decide, name="review_decide"),
    path(
        "review/approve-selected/", review.review_approve_selected, name="review_approve_selected"
    ),
    # The review canvas (issue 17): the same queue, one picture at a time, large.
    path("review/canvas/", review_canvas.review_canvas_page, name="review_canvas"),
    path(
        "review/canvas/<int:pk>/decide/",
        review_canvas.review_canvas_decide,
        name="review_canvas_decide",
    ),
    path(
        "review/canvas/<int:pk>/comment/",
        review_canvas.review_canvas_comment,
        name="review_canvas_comment",
    ),
    path("gallery/", gallery.gallery, name="gallery"),
    # The person's own settings: API tokens for the JSON API (generations.api).
    path("settings/tokens/", tokens.api_tokens, name="api_tokens"),
    path("settings/tokens/<int:pk>/revoke/", tokens.api_token_revoke, name="api_token_revoke"),
    path("notifications/", notifications.notification_list, name="notifications"),
    path("notifications/badge/", notifications.notification_badge, name="notification_badge"),
    path(
        "notifications/read-all/", notifications.notification_read_all, name="notification_read_all"
    ),
    path("notifications/<int:pk>/open/", notifications.notification_open, name="notification_open"),
    path("compare/", compare.compare_page, name="compare"),
    path("compare/favourite/<int:image_id>/", compare.favourite_toggle, name="compare_favourite"),
    # The quality-drift report (issue 7): staff and project admins only.
    path("quality/", quality.quality_drift, name="quality_drift"),
    path("quality/drift.csv", quality.quality_drift_csv, name="quality_drift_csv"),
    # Provider health (issue 15): staff and project admins only.
    path("health/", health.provider_health, name="provider_health"),
    # Spend (issue 6): reports, CSV exports and the price list, for admins.
    path("spend/", reports.spend_report, name="spend_report"),
    path("spend/savings/", reports.savings_report, name="spend_savings"),
    path("spend/ledger/", reports.ledger_list, name="spend_ledger"),
    path("spend/export/<str:report>.csv", reports.export_csv, name="spend_export"),
    path("spend/prices/", reports.price_list, name="price_list"),
    path("spend/prices/<int:pk>/delete/", reports.price_entry_delete, name="price_entry_delete"),
    # No public MEDIA_URL: every image goes through this permission check.
    path("media/<int:image_id>/<str:kind>", media.image_file, name="media"),
    path("media/u/<int:upload_id>/<str:kind>", media.upload_file, name="upload_media"),
]
