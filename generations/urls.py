from django.urls import path

from generations.views import generation, media, review, studio

urlpatterns = [
    path("", studio.home, name="home"),
    path("p/<slug:slug>/", studio.project_studio, name="project"),
    path("p/<slug:slug>/submit/", studio.submission_create, name="submission_create"),
    path("g/<int:pk>/", generation.generation_page, name="generation"),
    path("g/<int:pk>/card/", generation.generation_card, name="generation_card"),
    path("g/<int:pk>/approve/", generation.generation_approve, name="generation_approve"),
    path("g/<int:pk>/reject/", generation.generation_reject, name="generation_reject"),
    path("g/<int:pk>/cancel/", generation.generation_cancel, name="generation_cancel"),
    path("g/<int:pk>/retry/", generation.generation_retry, name="generation_retry"),
    path("g/<int:pk>/revise/", generation.generation_revise, name="generation_revise"),
    path("review/", review.review_list, name="review"),
    # No public MEDIA_URL: every image goes through this permission check.
    path("media/<int:image_id>/<str:kind>", media.image_file, name="media"),
]
