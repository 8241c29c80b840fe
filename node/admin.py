"""The operators' admin for nodes: list, bulk actions and the change form, all writing through ``node.services``.

Nothing here writes a node itself: the change and add forms hand their edits to ``node_update``,
``node_rename`` and ``node_create``, and the bulk actions to ``node_update_many``, so the admin
keeps exactly the rules of the PATCH endpoint. Nodes are never deleted (deactivate them instead).
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db.models import F, QuerySet
from django.db.models.functions import Lower
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst

from node.actions import NODE_ACTIONS, NodeAction, state_words
from node.actors import request_actor
from node.models import PAUSE_REASON_MAX_LENGTH, Node, NodeChange, NodeLiveness
from node.selectors import NodeListQuery, liveness_cutoff, liveness_state, node_history
from node.services import (
    UPDATABLE_FIELDS,
    node_create,
    node_preview,
    node_rename,
    node_update,
    node_update_many,
    node_validate_hostname,
)
from util.permissions import model_permission

# How many hostnames a confirmation page lists before "... and N more".
CONFIRMATION_SAMPLE = 20

_STATE_COLOURS = {"active": "#1e7e34", "paused": "#b36b00", "inactive": "#ba2121"}
_LIVENESS_COLOURS = {"online": "#1e7e34", "offline": "#ba2121", "never": "#666666"}


def _form_error(exc: ValueError) -> ValidationError:
    return ValidationError(capfirst(str(exc)))


class NodeAdminForm(forms.ModelForm):
    """Add and change form; applies ``node.services.rules`` to the edit before the model is validated.

    ``node_changes`` holds the edited state fields as ``node_update`` changes once the form is valid.
    """

    class Meta:
        model = Node
        fields = ("hostname", "is_active", "is_paused", "pause_reason")
        help_texts = {
            "hostname": "RFC 1123 hostname, at most 250 characters, unique regardless of letter case.",
            "is_active": "Unticking deactivates the node (sets “deprecated” to now); ticking reactivates it.",
            "is_paused": "A paused node takes no new work. Unticking resumes it and clears the reason.",
            "pause_reason": "Why the node is paused. Kept only while the node is paused.",
        }

    node_changes: dict[str, Any]

    def clean_hostname(self) -> str:
        try:
            return node_validate_hostname(hostname=self.cleaned_data["hostname"], node=self.instance)
        except ValueError as exc:
            raise _form_error(exc) from None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        self.node_changes = {
            name: cleaned[name] for name in UPDATABLE_FIELDS if name in self.changed_data and name in cleaned
        }
        if self.node_changes:
            try:
                preview = node_preview(node=self.instance, changes=self.node_changes)
            except ValueError as exc:
                raise _form_error(exc) from None
            # The model's own validation (its check constraints) then sees the state the service
            # will write, e.g. no reason on a node being resumed.
            for name in UPDATABLE_FIELDS:
                cleaned[name] = getattr(preview, name)
        return cleaned


class PauseReasonForm(forms.Form):
    """The one reason given to every node of a bulk pause."""

    reason = forms.CharField(
        label="Pause reason",
        max_length=PAUSE_REASON_MAX_LENGTH,
        widget=forms.TextInput(attrs={"size": 60, "autofocus": True}),
        help_text="Stored on every selected node.",
    )


# How many of a node's newest changes its change page shows.
RECENT_CHANGES = 20


class NoInputForm(forms.Form):
    """The confirmation of an action that needs no input."""


class NodeStateListFilter(admin.SimpleListFilter):
    """A yes/no filter of the changelist on one state field, applied by ``NodeListQuery`` as in the API."""

    field: str

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.parameter_name = f"{self.field}__exact"
        super().__init__(*args, **kwargs)

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> tuple[tuple[str, str], ...]:
        return (("1", "Yes"), ("0", "No"))

    def queryset(self, request: HttpRequest, queryset: QuerySet[Node]) -> QuerySet[Node]:
        if self.value() not in ("1", "0"):
            return queryset
        return NodeListQuery(**{self.field: self.value() == "1"}).filter(queryset)


class IsActiveListFilter(NodeStateListFilter):
    title = "is active"
    field = "is_active"


class IsPausedListFilter(NodeStateListFilter):
    title = "is paused"
    field = "is_paused"


class LivenessListFilter(admin.SimpleListFilter):
    """The nodes online, offline or never seen, by their last heartbeat as the API's liveness list reads it."""

    title = "liveness"
    parameter_name = "liveness"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(state.value, state.label) for state in NodeLiveness.State]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Node]) -> QuerySet[Node]:
        if self.value() not in NodeLiveness.State.values:
            return queryset
        return queryset.filter(liveness_state=self.value())


@admin.register(Node)
class NodeAdmin(admin.ModelAdmin):
    """Operators' view of the nodes: filter, search, sort, pause, resume, deactivate, reactivate, edit."""

    form = NodeAdminForm
    list_display = (
        "hostname_display",
        "state",
        "pause_reason_display",
        "deprecated",
        "last_modified",
        "liveness_display",
        "last_seen",
    )
    list_filter = (IsActiveListFilter, IsPausedListFilter, LivenessListFilter)
    # Searched by ``get_search_results``, as the API's ``search``; declared so the changelist shows the box.
    search_fields = ("hostname", "pause_reason")
    search_help_text = "Any part of a hostname or pause reason, in any letter case."
    date_hierarchy = "last_modified"
    # The newest changes first, served backwards by the (last_modified, id) index.
    ordering = ("-last_modified",)
    list_per_page = 100
    list_max_show_all = 1000
    # One count per page: the total of the unfiltered table is not worth a second one.
    show_full_result_count = False
    readonly_fields = ("created", "deprecated", "last_modified", "recent_changes")
    fieldsets = (
        (None, {"fields": ("hostname",)}),
        ("State", {"fields": ("is_active", "is_paused", "pause_reason")}),
        ("History", {"fields": ("created", "deprecated", "last_modified", "recent_changes")}),
    )
    actions = ("pause_nodes", "resume_nodes", "deactivate_nodes", "reactivate_nodes")

    def get_fieldsets(self, request: HttpRequest, obj: Node | None = None) -> Any:
        """The change history names users, so it is shown only to holders of node.view_nodechange, as in the API."""
        if request.user.has_perm(model_permission(NodeChange, "view")):
            return self.fieldsets
        return tuple(
            (name, {**options, "fields": tuple(f for f in options["fields"] if f != "recent_changes")})
            for name, options in self.fieldsets
        )

    @admin.display(description="hostname", ordering=Lower("hostname"))
    def hostname_display(self, node: Node) -> str:
        return node.hostname

    @admin.display(description="state", ordering="is_active")
    def state(self, node: Node) -> str:
        words = state_words(node)
        colour = _STATE_COLOURS["inactive" if not node.is_active else words[-1]]
        return format_html('<strong style="color: {}">{}</strong>', colour, ", ".join(words))

    def get_queryset(self, request: HttpRequest) -> QuerySet[Node]:
        """The nodes with their liveness (``liveness_state``, ``last_seen_at``), read as the API reads it."""
        return (
            super()
            .get_queryset(request)
            .annotate(liveness_state=liveness_state(liveness_cutoff()), last_seen_at=F("liveness__last_seen"))
        )

    @admin.display(description="liveness", ordering="liveness_state")
    def liveness_display(self, node: Node) -> str:
        state = getattr(node, "liveness_state", None) or NodeLiveness.State.NEVER
        return format_html('<span style="color: {}">{}</span>', _LIVENESS_COLOURS[state], state)

    @admin.display(description="last seen", ordering="last_seen_at")
    def last_seen(self, node: Node) -> Any:
        return getattr(node, "last_seen_at", None)

    @admin.display(description="pause reason", ordering=Lower("pause_reason"))
    def pause_reason_display(self, node: Node) -> str | None:
        return node.pause_reason

    @admin.display(description=f"last {RECENT_CHANGES} changes")
    def recent_changes(self, node: Node) -> str:
        """The node's newest recorded changes, read-only (the full list: GET /v6/nodes/{id}/history/)."""
        if node.pk is None:
            return "-"
        records = node_history(node.pk)[:RECENT_CHANGES]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    record.time.strftime("%Y-%m-%d %H:%M:%S UTC"),
                    record.action,
                    f"{record.actor} ({record.channel})",
                    "; ".join(f"{name}: {change['old']} -> {change['new']}" for name, change in record.changes.items()),
                    record.request_id or "",
                )
                for record in records
            ),
        )
        if not rows:
            return "No recorded changes."
        return format_html(
            "<table><thead><tr><th>time</th><th>action</th><th>by</th><th>changes</th><th>request id</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            rows,
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Node], search_term: str
    ) -> tuple[QuerySet[Node], bool]:
        """The nodes whose hostname or pause reason contains ``search_term``, through ``NodeListQuery``."""
        term = search_term.strip()
        if not term:
            return queryset, False
        return NodeListQuery(search=term).filter(queryset), False

    def has_delete_permission(self, request: HttpRequest, obj: Node | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Node, form: NodeAdminForm, change: bool) -> None:
        if change:
            saved = obj
            if "hostname" in form.changed_data:
                saved = node_rename(
                    node=saved,
                    hostname=form.cleaned_data["hostname"],
                    actor=request_actor(request, channel=NodeChange.Channel.ADMIN),
                )
            if form.node_changes:
                saved = node_update(
                    node=saved,
                    changes=form.node_changes,
                    actor=request_actor(request, channel=NodeChange.Channel.ADMIN),
                )
        else:
            saved = node_create(
                hostname=form.cleaned_data["hostname"],
                changes=form.node_changes,
                actor=request_actor(request, channel=NodeChange.Channel.ADMIN),
            )
        # The admin goes on with ``obj`` (its messages, history and redirect): give it the saved row.
        for field in Node._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False

    @admin.action(description="Pause selected nodes (with a reason)", permissions=["change"])
    def pause_nodes(self, request: HttpRequest, queryset: QuerySet[Node]) -> TemplateResponse | None:
        action = NODE_ACTIONS["pause"]
        return self._confirm_and_apply(request, queryset, action, "pause_nodes", form_class=PauseReasonForm)

    @admin.action(description="Resume selected nodes", permissions=["change"])
    def resume_nodes(self, request: HttpRequest, queryset: QuerySet[Node]) -> TemplateResponse | None:
        return self._confirm_and_apply(request, queryset, NODE_ACTIONS["resume"], "resume_nodes")

    @admin.action(description="Deactivate selected nodes", permissions=["change"])
    def deactivate_nodes(self, request: HttpRequest, queryset: QuerySet[Node]) -> TemplateResponse | None:
        return self._confirm_and_apply(request, queryset, NODE_ACTIONS["deactivate"], "deactivate_nodes")

    @admin.action(description="Reactivate selected nodes", permissions=["change"])
    def reactivate_nodes(self, request: HttpRequest, queryset: QuerySet[Node]) -> TemplateResponse | None:
        return self._confirm_and_apply(request, queryset, NODE_ACTIONS["reactivate"], "reactivate_nodes")

    def _confirm_and_apply(
        self,
        request: HttpRequest,
        queryset: QuerySet[Node],
        action: NodeAction,
        admin_action: str,
        *,
        form_class: type[forms.Form] = NoInputForm,
    ) -> TemplateResponse | None:
        """Show a confirmation page for ``action`` (posting back to ``admin_action``); once confirmed, apply it.

        Returning ``None`` sends the operator back to the node list, filters kept.
        """
        confirmed = request.POST.get("confirm") == "yes"
        form = form_class(request.POST if confirmed else None)
        if confirmed and form.is_valid():
            try:
                changes = action.changes_with(form.cleaned_data.get("reason"))
            except ValueError as exc:
                form.add_error(None, capfirst(str(exc)))
            else:
                result = node_update_many(
                    nodes=queryset, changes=changes, actor=request_actor(request, channel=NodeChange.Channel.ADMIN)
                )
                self.message_user(request, action.describe(result), messages.SUCCESS)
                return None
        count = queryset.count()
        sample = list(queryset.values_list("hostname", flat=True)[:CONFIRMATION_SAMPLE])
        noun = f"{count} node{'s' if count != 1 else ''}"
        return TemplateResponse(
            request,
            "admin/node/node/action_confirmation.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": f"{capfirst(action.name)} {noun}",
                "question": f"{capfirst(action.name)} these {noun}?",
                "confirm_label": f"Yes, {action.name} {noun}",
                "sample": sample,
                "more": count - len(sample),
                "form": form,
                "action": admin_action,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
                "select_across": request.POST.get("select_across") == "1",
                "media": self.media,
            },
        )
