"""The review workflow's rules, service by service: decisions (once, with who and when),
request changes and the revision chain, four eyes, auto-approve, comments and pins,
notifications (in the transaction of their event), project settings and memberships."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from generations import notifications, projects, selectors, services
from generations.forms import SubmissionForm
from generations.models import (
    Comment,
    FallbackPolicy,
    Generation,
    Membership,
    Notification,
    Role,
    Transition,
)
from generations.review import conversation, decisions
from generations.review.decisions import (
    generation_approve,
    generation_approve_many,
    generation_auto_approve,
    generation_reject,
    generation_request_changes,
)
from generations.review.selectors import review_projects, review_queue
from generations.states import Actor, IllegalTransition, State, TransitionConflict
from tests.support.factories import GenerationFactory, ProjectFactory, SubmissionFactory
from tests.support.review import in_review, member, rendered, submit, waiting

pytestmark = pytest.mark.django_db
Kind = Notification.Kind


def kinds_for(user) -> list[str]:
    return list(
        Notification.objects.filter(recipient=user).order_by("pk").values_list("kind", flat=True)
    )


# --- decisions -------------------------------------------------------------------------


def test_requesting_changes_records_the_comment_and_ends_the_review(project, designer, reviewer):
    (generation,) = waiting(project, designer)

    generation_request_changes(generation_id=generation.pk, user=reviewer, comment="  darker sky  ")

    generation.refresh_from_db()
    assert generation.state == State.CHANGES_REQUESTED
    audit = generation.transitions.get()
    assert (audit.from_state, audit.to_state) == (State.IN_REVIEW, State.CHANGES_REQUESTED)
    assert (audit.actor_kind, audit.actor_id, audit.reason) == (
        Actor.REVIEWER,
        reviewer.pk,
        "darker sky",
    )


@pytest.mark.parametrize("service", ["generation_reject", "generation_request_changes"])
def test_rejecting_and_requesting_changes_need_a_comment(service, project, designer, reviewer):
    (generation,) = waiting(project, designer)

    with pytest.raises(ValidationError) as error:
        getattr(decisions, service)(generation_id=generation.pk, user=reviewer, comment=" \n ")

    assert "comment" in error.value.error_dict
    generation.refresh_from_db()
    assert generation.state == State.IN_REVIEW
    assert not generation.transitions.exists()


def test_designers_cannot_request_changes(project, designer):
    (generation,) = waiting(project, designer)
    with pytest.raises(PermissionDenied):
        generation_request_changes(generation_id=generation.pk, user=designer, comment="nope")


@pytest.mark.parametrize(
    ("first", "verb"),
    [
        ("approve", "approved it"),
        ("reject", "rejected it"),
        ("changes", "asked for changes to it"),
    ],
)
@pytest.mark.parametrize("second", ["approve", "reject", "changes"])
def test_a_decision_is_made_once_and_the_second_says_who_decided_what_and_when(
    first, verb, second, project, designer, reviewer
):
    (generation,) = waiting(project, designer)
    other = member(project, "vera", Role.REVIEWER)
    decide = {
        "approve": lambda user: generation_approve(generation_id=generation.pk, user=user),
        "reject": lambda user: generation_reject(
            generation_id=generation.pk, user=user, comment="no"
        ),
        "changes": lambda user: generation_request_changes(
            generation_id=generation.pk, user=user, comment="tweak"
        ),
    }
    decide[first](reviewer)

    with pytest.raises(IllegalTransition, match=f"Only a generation in review.*rui {verb} at"):
        decide[second](other)

    assert generation.transitions.count() == 1


def test_a_lost_race_names_the_winner_and_changes_nothing(project, designer, reviewer, monkeypatch):
    """Both reviewers read the generation in review; the second write loses the
    compare-and-set (see test_review_race for the same on PostgreSQL with threads)."""
    (generation,) = waiting(project, designer)
    other = member(project, "vera", Role.REVIEWER)
    stale = Generation.objects.select_related("submission", "project").get(pk=generation.pk)
    generation_approve(generation_id=generation.pk, user=reviewer, note="ship it")
    monkeypatch.setattr(services, "generation_load", lambda generation_id: stale)

    with pytest.raises(TransitionConflict) as lost:
        generation_reject(generation_id=generation.pk, user=other, comment="too dark")

    message = str(lost.value)
    assert "Someone decided first: rui approved it at" in message
    assert "“Final queued”" in message and "not recorded" in message
    assert list(generation.transitions.values_list("to_state", "actor_id")) == [
        (State.FINAL_QUEUED, reviewer.pk)
    ]
    assert not Notification.objects.filter(kind=Kind.REJECTED).exists()


def test_approving_many_approves_each_on_its_own(project, designer, reviewer):
    first, second, third = waiting(project, designer, variants=3)
    generation_reject(generation_id=second.pk, user=reviewer, comment="no")

    approved, refused = generation_approve_many(
        generation_ids=[first.pk, second.pk, third.pk, first.pk, 999_999], user=reviewer
    )

    assert [g.pk for g in approved] == [first.pk, third.pk]
    assert set(refused) == {second.pk, 999_999}
    assert "rejected it" in refused[second.pk]
    assert Generation.objects.get(pk=third.pk).state == State.FINAL_QUEUED


# --- request changes and revise: the chain -----------------------------------------------


def test_revising_after_changes_were_requested_links_the_chain(project, designer, reviewer):
    (first,) = waiting(project, designer, prompt="a kite")
    generation_request_changes(generation_id=first.pk, user=reviewer, comment="bigger")
    second = services.generation_revise(
        generation_id=first.pk, user=designer, prompt="a big kite"
    ).generations.get()
    Generation.objects.filter(pk=second.pk).update(state=State.IN_REVIEW)
    generation_request_changes(generation_id=second.pk, user=reviewer, comment="red")
    third = services.generation_revise(
        generation_id=second.pk, user=designer, prompt="a big red kite"
    ).generations.get()

    third = selectors.generation_detail(user=designer, pk=third.pk)
    chain = selectors.generation_lineage(generation=third)

    assert [g.pk for g in chain] == [first.pk, second.pk]
    assert [g.decision.reason for g in chain] == ["bigger", "red"]
    assert all(g.decision.to_state == State.CHANGES_REQUESTED for g in chain)
    assert third.submission.parent_id == second.pk


# --- four eyes -------------------------------------------------------------------------


def test_four_eyes_stops_self_approval_whatever_the_roles(project):
    both = member(project, "bo", Role.DESIGNER, Role.REVIEWER, Role.ADMIN)
    project.four_eyes = True
    project.save()
    (own,) = waiting(project, both)

    with pytest.raises(PermissionDenied, match="Four eyes"):
        generation_approve(generation_id=own.pk, user=both)

    # Rejecting or asking for changes on one's own work is still allowed.
    generation_request_changes(generation_id=own.pk, user=both, comment="redo")
    assert Generation.objects.get(pk=own.pk).state == State.CHANGES_REQUESTED


def test_without_four_eyes_a_reviewer_may_approve_their_own(project):
    both = member(project, "bo", Role.DESIGNER, Role.REVIEWER)
    (own,) = waiting(project, both)

    generation_approve(generation_id=own.pk, user=both)

    assert Generation.objects.get(pk=own.pk).state == State.FINAL_QUEUED


def test_four_eyes_keeps_my_own_previews_out_of_my_queue(project, reviewer):
    both = member(project, "bo", Role.DESIGNER, Role.REVIEWER)
    mine = waiting(project, both, prompt="mine")
    theirs = waiting(project, member(project, "dee", Role.DESIGNER), prompt="theirs")

    def queued(person) -> set[int]:
        projects_ = review_projects(user=person)  # read fresh, as each page does
        return {g.pk for g in review_queue(user=person, projects=projects_).items}

    assert queued(both) == {mine[0].pk, theirs[0].pk}
    project.four_eyes = True
    project.save()
    assert queued(both) == {theirs[0].pk}
    assert queued(reviewer) == {mine[0].pk, theirs[0].pk}, "another reviewer still has both"


# --- auto-approve ------------------------------------------------------------------------


def test_without_review_a_landed_preview_is_approved_by_the_system_in_the_same_step(
    project, designer, reviewer, django_capture_on_commit_callbacks, monkeypatch
):
    project.review_required = False
    project.save()
    kicked: list[int] = []
    monkeypatch.setattr("generations.dispatch.kick", kicked.append)
    generation = submit(project, designer).generations.get()

    with django_capture_on_commit_callbacks(execute=True):
        rendered(generation)

    assert generation.state == State.FINAL_QUEUED
    last_two = list(generation.transitions.order_by("-pk")[:2])[::-1]
    assert [(t.from_state, t.to_state, t.actor_kind) for t in last_two] == [
        (State.PREVIEW_RENDERING, State.IN_REVIEW, Actor.WORKER),
        (State.IN_REVIEW, State.FINAL_QUEUED, Actor.SYSTEM),
    ]
    assert last_two[1].actor_id is None
    assert "does not require review" in last_two[1].reason
    assert generation.pk in kicked, "the final's job is kicked once the step commits"
    assert kinds_for(designer) == [Kind.AUTO_APPROVED]
    assert kinds_for(reviewer) == [], "nothing waits for review"

    # The final renders like any approved one.
    assert rendered(generation).state == State.DELIVERED


def test_with_review_a_landed_preview_waits_and_the_reviewers_hear_of_it(
    project, designer, reviewer, project_admin
):
    (generation,) = in_review(project, designer)

    assert generation.state == State.IN_REVIEW
    assert kinds_for(designer) == [Kind.PREVIEW_READY]
    assert kinds_for(reviewer) == [Kind.REVIEW_REQUESTED]
    assert kinds_for(project_admin) == [], "admins are asked only when there is no reviewer"


def test_auto_approve_is_part_of_the_preview_step_so_nothing_is_lost_between(
    project, designer, monkeypatch
):
    """If approving fails, the preview's success rolls back with it: the job stays with
    its lease (the sweeper returns it to the queue) instead of sitting in review with no
    final ever queued."""
    project.review_required = False
    project.save()
    generation = submit(project, designer).generations.get()

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(decisions, "generation_auto_approve", broken)
    with pytest.raises(RuntimeError):
        rendered(generation)

    generation.refresh_from_db()
    assert generation.state == State.PREVIEW_RENDERING
    assert not generation.images.exists()
    assert not generation.transitions.filter(to_state=State.IN_REVIEW).exists()


def test_auto_approve_does_nothing_while_review_is_required(project, designer):
    (generation,) = waiting(project, designer)
    assert generation_auto_approve(generation=generation) is None
    assert Generation.objects.get(pk=generation.pk).state == State.IN_REVIEW


# --- notifications -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decide", "kind", "text"),
    [
        (
            lambda g, u: generation_approve(generation_id=g, user=u, note="lovely"),
            Kind.APPROVED,
            "rui approved #{pk}: lovely",
        ),
        (
            lambda g, u: generation_reject(generation_id=g, user=u, comment="too dark"),
            Kind.REJECTED,
            "rui rejected #{pk}: too dark",
        ),
        (
            lambda g, u: generation_request_changes(generation_id=g, user=u, comment="more sky"),
            Kind.CHANGES_REQUESTED,
            "rui asks for changes to #{pk}: more sky",
        ),
    ],
)
def test_the_designer_hears_of_every_decision(decide, kind, text, project, designer, reviewer):
    (generation,) = waiting(project, designer)

    decide(generation.pk, reviewer)

    note = Notification.objects.get(recipient=designer)
    assert (note.kind, note.text) == (kind, text.format(pk=generation.pk))
    assert (note.generation_id, note.actor_id, note.read_at) == (generation.pk, reviewer.pk, None)
    assert not Notification.objects.filter(recipient=reviewer).exists(), "not of your own act"


def test_the_designer_hears_when_the_final_is_delivered(project, designer, reviewer):
    (generation,) = in_review(project, designer)
    generation_approve(generation_id=generation.pk, user=reviewer)

    rendered(generation)

    assert kinds_for(designer) == [Kind.PREVIEW_READY, Kind.APPROVED, Kind.DELIVERED]


def test_the_designer_hears_when_the_final_fails_or_falls_back(project, designer, reviewer):
    from generations import flow

    failed, fallback = waiting(project, designer, variants=2, state=State.FINAL_RENDERING)
    for generation, target in (
        (failed, State.FINAL_FAILED),
        (fallback, State.DELIVERED_FALLBACK),
    ):
        flow.apply(generation, target, actor=Actor.REAPER, reason="lease expired; no tries left")

    assert kinds_for(designer) == [Kind.FINAL_FAILED, Kind.DELIVERED_FALLBACK]
    assert "failed: lease expired" in Notification.objects.get(kind=Kind.FINAL_FAILED).text


def test_reviewers_are_asked_and_admins_only_when_there_is_no_reviewer(project, designer):
    admin = member(project, "ada", Role.ADMIN)
    generation = submit(project, designer).generations.get()
    rendered(generation)
    assert kinds_for(admin) == [Kind.REVIEW_REQUESTED]

    reviewers = [member(project, name, Role.REVIEWER) for name in ("rui", "vera")]
    member(ProjectFactory(slug="other"), "otto", Role.REVIEWER)
    rendered(submit(project, designer).generations.get())

    for person in reviewers:
        assert kinds_for(person) == [Kind.REVIEW_REQUESTED]
    assert kinds_for(admin) == [Kind.REVIEW_REQUESTED], "only the first time"
    assert Notification.objects.filter(recipient__username="otto").count() == 0


def test_no_notification_survives_a_transition_that_rolled_back(project, designer, reviewer):
    (generation,) = waiting(project, designer)
    with pytest.raises(RuntimeError), transaction.atomic():
        generation_approve(generation_id=generation.pk, user=reviewer)
        raise RuntimeError("something after the approval failed")

    assert not Notification.objects.exists()
    assert Generation.objects.get(pk=generation.pk).state == State.IN_REVIEW


def test_marking_read_touches_only_my_notifications(project, designer, reviewer):
    first, second = waiting(project, designer, variants=2)
    generation_approve(generation_id=first.pk, user=reviewer)
    generation_reject(generation_id=second.pk, user=reviewer, comment="no")
    theirs = Notification.objects.create(
        recipient=reviewer, kind=Kind.COMMENTED, text="x", created_at=first.created_at
    )
    mine = list(Notification.objects.filter(recipient=designer).order_by("pk"))

    assert notifications.unread_count(user=designer) == 2
    assert notifications.notification_mark_read(user=designer, ids=[mine[0].pk, theirs.pk]) == 1
    assert notifications.unread_count(user=designer) == 1
    assert notifications.notification_mark_read(user=designer) == 1
    assert notifications.unread_count(user=designer) == 0
    assert notifications.unread_count(user=reviewer) == 1
    with pytest.raises(Notification.DoesNotExist):
        notifications.notification_open(user=designer, pk=theirs.pk)


# --- comments and pins -------------------------------------------------------------------


def test_a_comment_is_stored_and_the_designer_hears_of_it(project, designer, reviewer):
    (generation,) = waiting(project, designer)

    comment = conversation.comment_create(
        generation_id=generation.pk, user=reviewer, body="  the horizon tilts  "
    )

    assert (comment.body, comment.author, comment.image, comment.pin_x) == (
        "the horizon tilts",
        reviewer,
        None,
        None,
    )
    note = Notification.objects.get(recipient=designer)
    assert note.kind == Kind.COMMENTED and "rui commented on" in note.text
    conversation.comment_create(generation_id=generation.pk, user=designer, body="fixing it")
    assert Notification.objects.count() == 1, "not of your own comment"


def test_a_pin_is_stored_as_fractions_and_numbered_in_order(project, designer, reviewer):
    (generation,) = in_review(project, designer)
    image = generation.images.get()

    first = conversation.comment_create(
        generation_id=generation.pk, user=reviewer, body="here", image_id=image.pk, x=0.25, y=0.75
    )
    conversation.comment_create(generation_id=generation.pk, user=designer, body="plain")
    third = conversation.comment_create(
        generation_id=generation.pk, user=designer, body="and here", image_id=image.pk, x=1, y=0
    )

    assert (first.image_id, first.pin_x, first.pin_y) == (image.pk, 0.25, 0.75)
    pins = conversation.pins_of(list(generation.comments.order_by("created_at", "pk")))
    assert [(p.number, p.comment.pk, p.left, p.top) for p in pins[image.pk]] == [
        (1, first.pk, "25.000%", "75.000%"),
        (2, third.pk, "100.000%", "0.000%"),
    ]


@pytest.mark.parametrize(
    ("body", "where", "field"),
    [
        ("", None, "body"),
        ("x" * 4001, None, "body"),
        ("off the image", (1.2, 0.5), "image"),
        ("negative", (0.5, -0.01), "image"),
        ("not a number", (math.nan, 0.5), "image"),
        ("half a pin", (0.5, None), "image"),
    ],
)
def test_a_comment_must_have_text_and_a_pin_must_lie_on_the_image(
    body, where, field, project, designer
):
    (generation,) = in_review(project, designer)
    image = generation.images.get()
    x, y = where or (None, None)

    with pytest.raises(ValidationError) as error:
        conversation.comment_create(
            generation_id=generation.pk,
            user=designer,
            body=body,
            image_id=image.pk if where else None,
            x=x,
            y=y,
        )

    assert field in error.value.error_dict
    assert not Comment.objects.exists()


def test_a_pin_cannot_point_at_another_generations_image(project, designer):
    (mine,) = in_review(project, designer)
    (other,) = in_review(project, designer)

    with pytest.raises(ValidationError, match="one of this generation"):
        conversation.comment_create(
            generation_id=mine.pk,
            user=designer,
            body="wrong image",
            image_id=other.images.get().pk,
            x=0.5,
            y=0.5,
        )


def test_outsiders_cannot_comment(project, designer, outsider):
    (generation,) = waiting(project, designer)
    with pytest.raises(PermissionDenied):
        conversation.comment_create(generation_id=generation.pk, user=outsider, body="hi")


# --- project settings ---------------------------------------------------------------------


def settings_of(**overrides):
    values = {
        "review_required": True,
        "four_eyes": False,
        "allowed_models": ["nano-banana-pro", "nano-banana-2"],
        "default_model_key": "nano-banana-2",
        "default_preview_size": "1K",
        "final_size": "4K",
        "fallback_policy": FallbackPolicy.FAIL,
    }
    values.update(overrides)
    return values


def test_a_project_admin_edits_the_settings(project, project_admin):
    projects.project_settings_update(
        project=project, user=project_admin, **settings_of(review_required=False, four_eyes=True)
    )

    project.refresh_from_db()
    assert (project.review_required, project.four_eyes) == (False, True)
    assert project.allowed_models == ["nano-banana-pro", "nano-banana-2"]
    assert (project.default_model_key, project.default_preview_size, project.final_size) == (
        "nano-banana-2",
        "1K",
        "4K",
    )
    assert project.fallback_policy == FallbackPolicy.FAIL


def test_allowing_every_model_stores_all_of_them_as_empty(project, project_admin, settings):
    every = list(settings.STUDIO_MODELS)
    projects.project_settings_update(
        project=project, user=project_admin, **settings_of(allowed_models=every)
    )
    project.refresh_from_db()
    assert project.allowed_models == []


@pytest.mark.parametrize("role", ["designer", "reviewer", "outsider"])
def test_only_admins_edit_settings(role, project, request):
    person = request.getfixturevalue(role)
    with pytest.raises(PermissionDenied):
        projects.project_settings_update(project=project, user=person, **settings_of())


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"allowed_models": []}, "allowed_models"),
        ({"allowed_models": ["nope"]}, "allowed_models"),
        ({"default_model_key": "local"}, "default_model_key"),
        ({"final_size": "1K"}, "final_size"),
        ({"default_preview_size": "2K", "final_size": "2K"}, "default_preview_size"),
        ({"fallback_policy": "pray"}, "fallback_policy"),
    ],
)
def test_settings_are_validated(overrides, field, project, project_admin):
    with pytest.raises(ValidationError) as error:
        projects.project_settings_update(
            project=project, user=project_admin, **settings_of(**overrides)
        )
    assert field in error.value.error_dict


def test_submissions_follow_the_project_settings(project, designer):
    project.allowed_models = ["nano-banana-2"]
    project.final_size = "2K"
    project.save()

    with pytest.raises(ValidationError) as not_allowed:
        submit(project, designer, model_key="nano-banana-pro")
    assert "does not allow" in " ".join(not_allowed.value.error_dict["model_key"][0].messages)
    with pytest.raises(ValidationError) as too_big:
        services.submission_create(
            project=project,
            user=designer,
            prompt="x",
            model_key="nano-banana-2",
            aspect_ratio="1:1",
            preview_size="2K",
            variants=1,
        )
    assert "preview_size" in too_big.value.error_dict

    submission = submit(project, designer, model_key="nano-banana-2")
    assert submission.final_size == "2K"


def test_the_submit_form_offers_the_allowed_models_and_the_project_defaults(project):
    project.allowed_models = ["nano-banana-2", "local"]
    project.default_model_key = "local"
    project.default_preview_size = "1K"

    form = SubmissionForm(initial=SubmissionForm.defaults(project), project=project)

    assert [key for key, _ in form.fields["model_key"].choices] == ["nano-banana-2", "local"]
    assert form.initial["model_key"] == "local"
    assert form.initial["preview_size"] == "1K"


# --- members -----------------------------------------------------------------------------


def roles_of(project, username) -> set[str]:
    return set(
        Membership.objects.filter(project=project, user__username=username).values_list(
            "role", flat=True
        )
    )


def test_admins_add_change_and_remove_members(project, project_admin, designer):
    member(ProjectFactory(slug="x"), "newbie")

    projects.membership_set_roles(
        project=project, user=project_admin, username="newbie", roles={Role.REVIEWER}
    )
    assert roles_of(project, "newbie") == {"reviewer"}
    projects.membership_set_roles(
        project=project, user=project_admin, username="dana", roles={"designer", "reviewer"}
    )
    assert roles_of(project, "dana") == {"designer", "reviewer"}
    projects.membership_set_roles(project=project, user=project_admin, username="dana", roles=set())
    assert roles_of(project, "dana") == set()
    assert [m.user.username for m in projects.project_members(project=project)] == [
        "ada",
        "newbie",
    ]


def test_the_last_admin_stays(project, project_admin):
    with pytest.raises(ValidationError, match="needs an admin"):
        projects.membership_set_roles(
            project=project, user=project_admin, username="ada", roles={Role.DESIGNER}
        )
    assert roles_of(project, "ada") == {"admin"}

    member(project, "second", Role.ADMIN)
    projects.membership_set_roles(
        project=project, user=project_admin, username="ada", roles={Role.DESIGNER}
    )
    assert roles_of(project, "ada") == {"designer"}


def test_members_need_an_account_and_only_admins_manage_them(project, project_admin, reviewer):
    with pytest.raises(ValidationError, match="No user named"):
        projects.membership_set_roles(
            project=project, user=project_admin, username="ghost", roles={Role.DESIGNER}
        )
    with pytest.raises(PermissionDenied):
        projects.membership_set_roles(
            project=project, user=reviewer, username="rui", roles={Role.ADMIN}
        )


# --- the queue and the gallery (selectors) ---------------------------------------------------


def test_the_queue_groups_variants_oldest_first_and_never_splits_a_group(project, designer):
    old = waiting(project, designer, variants=3, minutes_ago=30, prompt="old")
    mid = waiting(project, designer, variants=2, minutes_ago=20, prompt="mid")
    new = waiting(project, designer, variants=4, minutes_ago=10, prompt="new")
    waiting(project, designer, state=State.PREVIEW_RENDERING)
    projects_ = [project]
    reviewer = member(project, "rui", Role.REVIEWER)

    page = review_queue(user=reviewer, projects=projects_, per_page=4)

    assert page.count == 9
    assert [[g.pk for g in group.items] for group in page.groups] == [
        [g.pk for g in old],
        [g.pk for g in mid],
    ], "the 4th row starts a group of 2: the page takes the whole group"
    assert page.groups[0].price is not None and page.groups[0].price_all == 3 * page.groups[0].price
    rest = review_queue(user=reviewer, projects=projects_, per_page=4, after=page.next)
    assert [[g.pk for g in group.items] for group in rest.groups] == [[g.pk for g in new]]
    assert rest.next is None and rest.continued


def test_the_queue_filters_by_designer_and_project(project, designer, reviewer):
    other_designer = member(project, "dee", Role.DESIGNER)
    second = ProjectFactory(slug="second")
    Membership.objects.create(project=second, user=reviewer, role=Role.REVIEWER)
    mine = waiting(project, designer)
    theirs = waiting(project, other_designer)
    elsewhere = waiting(second, member(second, "sam", Role.DESIGNER))
    all_projects = review_projects(user=reviewer)

    def pks(**kwargs) -> list[int]:
        return [g.pk for g in review_queue(user=reviewer, **kwargs).items]

    assert [p.slug for p in all_projects] == ["acme", "second"]
    assert pks(projects=all_projects) == [mine[0].pk, theirs[0].pk, elsewhere[0].pk]
    assert pks(projects=[second]) == [elsewhere[0].pk]
    assert pks(projects=all_projects, designer_id=other_designer.pk) == [theirs[0].pk]


def test_the_gallery_filters_and_searches(project, designer, reviewer):
    dee = member(project, "dee", Role.DESIGNER)
    kite = waiting(project, designer, prompt="A red KITE over dunes", minutes_ago=60 * 24 * 3)
    boat = waiting(project, dee, prompt="a boat at night", model_key="nano-banana-2")
    done = waiting(project, dee, prompt="a kite at night", state=State.DELIVERED)
    hidden = GenerationFactory(submission=SubmissionFactory(prompt="a kite elsewhere"))

    def pks(**filters) -> list[int]:
        page = selectors.gallery_page(user=reviewer, filters=selectors.GalleryFilters(**filters))
        return [g.pk for g in page]

    everything = pks()
    assert everything == [done[0].pk, boat[0].pk, kite[0].pk]
    assert hidden.pk not in everything
    assert pks(q="kite") == [done[0].pk, kite[0].pk]
    assert pks(q="night KITE") == [done[0].pk]
    assert pks(state=State.DELIVERED) == [done[0].pk]
    assert pks(model_key="nano-banana-2") == [boat[0].pk]
    assert pks(designer_id=dee.pk) == [done[0].pk, boat[0].pk]
    assert pks(project=project) == everything
    today = boat[0].created_at.date()
    assert pks(date_from=today) == [done[0].pk, boat[0].pk]
    assert pks(date_to=today - dt.timedelta(days=1)) == [kite[0].pk]


def test_gallery_pages_walk_everything_once_both_ways(project, designer):
    made = [g for i in range(11) for g in waiting(project, designer, minutes_ago=i % 3)]
    newest_first = sorted(made, key=lambda g: (g.created_at, g.pk), reverse=True)

    seen, cursor, pages = [], None, []
    while True:
        page = selectors.gallery_page(
            user=designer, filters=selectors.GalleryFilters(), after=cursor, per_page=4
        )
        pages.append(page)
        seen += [g.pk for g in page]
        if not page.next:
            break
        cursor = page.next
    assert seen == [g.pk for g in newest_first]
    assert [len(p) for p in pages] == [4, 4, 3]
    back = selectors.gallery_page(
        user=designer, filters=selectors.GalleryFilters(), before=pages[2].previous, per_page=4
    )
    assert [g.pk for g in back] == [g.pk for g in pages[1]]
    assert back.previous == pages[1].previous and back.next == pages[1].next


def test_a_garbled_cursor_is_the_first_page(project, designer):
    waiting(project, designer, variants=2)
    for cursor in ("", "abc", "1.2.3", "9" * 40 + ".1", "-5.3"):
        page = selectors.gallery_page(
            user=designer, filters=selectors.GalleryFilters(), after=cursor
        )
        assert len(page) == 2


def test_transitions_of_the_decisions_are_audited_with_the_reviewer(project, designer, reviewer):
    (generation,) = waiting(project, designer)
    generation_reject(generation_id=generation.pk, user=reviewer, comment="blurry")
    audit = Transition.objects.get(generation=generation)
    assert (audit.actor_id, audit.reason, audit.to_state) == (
        reviewer.pk,
        "blurry",
        State.REJECTED,
    )
    assert audit.created_at is not None
