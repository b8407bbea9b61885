"""factory_boy factories for the models tests need most."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from generations.models import Generation, Membership, Project, Role, Submission
from generations.states import State

PASSWORD = "correct horse battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password(PASSWORD)


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.DESIGNER


class SubmissionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Submission

    project = factory.SubFactory(ProjectFactory)
    created_by = factory.SubFactory(UserFactory)
    prompt = "a lighthouse on a cliff at dusk, oil painting"
    model_key = "nano-banana-pro"
    aspect_ratio = "1:1"
    preview_size = "1K"
    final_size = "4K"
    variants = 1


class GenerationFactory(factory.django.DjangoModelFactory):
    """A generation in any state (set `state=`), without going through the flow."""

    class Meta:
        model = Generation

    submission = factory.SubFactory(SubmissionFactory)
    project = factory.SelfAttribute("submission.project")
    variant = factory.Sequence(lambda n: n + 1)
    seed = 1234
    state = State.PREVIEW_QUEUED
    state_changed_at = factory.LazyFunction(timezone.now)
    created_at = factory.LazyFunction(timezone.now)
    next_attempt_at = factory.LazyFunction(timezone.now)
