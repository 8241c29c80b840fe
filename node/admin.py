"""The operators' admin for nodes: list, bulk actions and the change form, all writing through ``node.services``.

Nothing here writes a node itself: the change and add forms hand their edits to ``node_update``,
``node_rename`` and ``node_create``, and the bulk actions to ``node_update_many``, so the admin
keeps exactly the rules of the PATCH endpoint. Nodes are never deleted (deactivate them instead).
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import PAGE_VAR
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import F, QuerySet
from django.db.models.functions import Lower
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import capfirst

from accounts.permissions import model_permission
from node.actions import NODE_ACTIONS, NodeAction, state_words
from node.actors import request_actor
from node.admin_display import NO_VALUE, TitledListFilter, readable_time, readable_value, time_cell
from node.models import PAUSE_REASON_MAX_LENGTH, Node, NodeChange, NodeLiveness
from node.selectors import NodeListQuery, liveness_cutoff, liveness_state, node_history, search_text
from node.services import (
    UPDATABLE_FIELDS,
    node_create,
    node_preview,
    node_rename,
    node_update,
    node_update_many,
    node_validate_hostname,
)

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


# How many of a node's newest changes its change page shows, and its History page shows at a time.
RECENT_CHANGES = 20
HISTORY_PAGE_SIZE = 100


def readable_changes(record: NodeChange) -> list[str]:
    """What a history record changed, one ``field: old → new`` line per field by field name (the same order on
    every database), in ``readable_value``'s words."""
    return [
        f"{name}: {readable_value(change['old'])} → {readable_value(change['new'])}"
        for name, change in sorted(record.changes.items())
    ]


class NoInputForm(forms.Form):
    """The confirmation of an action that needs no input."""


class NodeStateListFilter(TitledListFilter):
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
    title = "active"
    field = "is_active"


class IsPausedListFilter(NodeStateListFilter):
    title = "paused"
    field = "is_paused"


class LivenessListFilter(TitledListFilter):
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
        "deprecated_display",
        "last_modified_display",
        "liveness_display",
        "last_seen",
    )
    empty_value_display = NO_VALUE
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
    readonly_fields = ("created_display", "deprecated_display", "last_modified_display", "recent_changes")
    fieldsets = (
        (None, {"fields": ("hostname",)}),
        ("State", {"fields": ("is_active", "is_paused", "pause_reason")}),
        ("History", {"fields": ("created_display", "deprecated_display", "last_modified_display", "recent_changes")}),
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

    @admin.display(description="created", ordering="created")
    def created_display(self, node: Node) -> str:
        return time_cell(node.created)

    @admin.display(description="deprecated", ordering="deprecated")
    def deprecated_display(self, node: Node) -> str:
        return time_cell(node.deprecated)

    @admin.display(description="last modified", ordering="last_modified")
    def last_modified_display(self, node: Node) -> str:
        return time_cell(node.last_modified)

    @admin.display(description=f"last {RECENT_CHANGES} changes")
    def recent_changes(self, node: Node) -> str:
        """The node's newest recorded changes, read-only (all of them: the History button)."""
        if node.pk is None:
            return NO_VALUE
        records = node_history(node.pk)[:RECENT_CHANGES]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    readable_time(record.time),
                    record.action,
                    f"{record.actor} ({record.channel})",
                    format_html_join(mark_safe("<br>"), "{}", ((change,) for change in readable_changes(record))),
                    record.request_id or NO_VALUE,
                )
                for record in records
            ),
        )
        if not rows:
            return "No recorded changes."
        return format_html(
            "<table><thead><tr><th>time (UTC)</th><th>action</th><th>by</th><th>changes</th><th>request id</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            rows,
        )

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None) -> HttpResponse:
        """The node's recorded changes (API, admin, bulk actions and commands alike), newest first, 100 a page.

        Django's own view lists the admin's log entries only, which miss every change made elsewhere.
        The records name users, so they are shown only to holders of node.view_nodechange, as in the API.
        """
        node = self.get_object(request, unquote(object_id))
        if node is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, node):
            raise PermissionDenied
        may_read = request.user.has_perm(model_permission(NodeChange, "view"))
        paginator = Paginator(node_history(node.pk) if may_read else NodeChange.objects.none(), HISTORY_PAGE_SIZE)
        page = paginator.get_page(request.GET.get(PAGE_VAR, 1))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Change history: {node}",
            "subtitle": None,
            "object": node,
            "opts": self.opts,
            "module_name": str(capfirst(self.opts.verbose_name_plural)),
            "may_read": may_read,
            "records": [
                {
                    "time": readable_time(record.time),
                    "action": record.action,
                    "actor": record.actor,
                    "channel": record.channel,
                    "changes": readable_changes(record),
                    "request_id": record.request_id or NO_VALUE,
                }
                for record in page
            ],
            "page": page,
            "page_range": paginator.get_elided_page_range(page.number),
            "page_var": PAGE_VAR,
            "api_url": reverse("node-history", kwargs={"pk": node.pk}),
            "preserved_filters": self.get_preserved_filters(request),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/node/node/object_history.html", context)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        """The node list without the navigation sidebar: its five columns and the filters then fit 1280 pixels."""
        return super().changelist_view(request, {"is_nav_sidebar_enabled": False, **(extra_context or {})})

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Node], search_term: str
    ) -> tuple[QuerySet[Node], bool]:
        """The nodes whose hostname or pause reason contains ``search_term``, as the API's ``search`` finds them.

        The box's surrounding blanks are dropped; a text ``search_text`` refuses shows why, and no node.
        """
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            term = search_text(term)
        except ValueError as exc:
            self.message_user(request, f"Search: {exc}", level=messages.WARNING)
            return queryset.none(), False
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
