"""Every Prometheus metric of the service, in one place, on a registry of each app's own.

Two kinds of metric:
- Process counters and histograms (this module), incremented where a call changes state
  (`observe.py`). They reset when the process restarts and each instance has its own, so
  use them for rates (`increase(...[1h])`, summed over instances).
- Stored totals and live gauges (`collector.py`), read from the database at each scrape.
  They survive restarts and are the same on every instance, so use them for period totals
  (`max` over instances, never `sum`).

Label values come from closed sets (`labels.Closed`): configured periods, options, entry
numbers and organisations, plus `none` / `other`. No label ever carries a caller. Series
start at zero for each configured period and the options its menu offers, so dashboards
show zeros rather than gaps.
"""

from __future__ import annotations

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from hotline.calls.states import TURNED_AWAY
from hotline.conference import facts as room
from hotline.config import HotlineConfig
from hotline.reports import labels
from hotline.reports.definitions import CALLBACK_OUTCOMES, NONE

# Seconds. 10-120 give the service levels the helpline literature uses (answered within
# 20, 30, 60 s); the long tail is real during peaks (the trials answered under 10%).
WAIT_BUCKETS = (5, 10, 20, 30, 60, 90, 120, 300, 600, 1200, 1800, 3600)
TALK_BUCKETS = (30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 5400)
# A callback is served in the caller's turn, retried minutes apart, until the option closes:
# from minutes to hours after the caller first queued.
CALLBACK_BUCKETS = (60, 300, 600, 1200, 1800, 3600, 5400, 7200, 10800, 14400, 21600, 28800)
WEBHOOK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
OUTCOMES = ("connected", "abandoned")
# Why a call was ended by force (reconciliation), a closed set: see calls.lifecycle.ForceEnded.
FORCED = ("twilio", "max-talk", "operator")
# Who marked a call hard, and why a line took a break by itself (hotline.lines.care).
HARD_SOURCES = ("counsellor", "risk_level")
CARE_BREAKS = ("hard_call", "talk_limit")


class Metrics:
    """The app's registry and its process metrics (names end in _total / _seconds)."""

    def __init__(self, cfg: HotlineConfig) -> None:
        # The *_created series double the output and no dashboard of ours reads them.
        prometheus_client.disable_created_metrics()
        self.cfg, self.closed = cfg, labels.Closed(cfg)
        self.registry = CollectorRegistry(auto_describe=False)
        self._calls(self.registry)
        self._service(self.registry)
        self._room(self.registry)
        for org in labels.orgs(cfg):
            self.missed_away.labels(org)
            self.wrap_up.labels(org)
            self.help_requests.labels(org)
            for source in HARD_SOURCES:
                self.hard_calls.labels(org, source)
            for reason in CARE_BREAKS:
                self.care_breaks.labels(org, reason)
        for reason in FORCED:
            self.forced.labels(reason)
        for reason in TURNED_AWAY:
            self.turned_away.labels(reason)
        self._zeros(cfg)

    def _calls(self, r: CollectorRegistry) -> None:
        """What happens to calls: received, chosen, connected, abandoned, closed, waits."""
        self.received = Counter(
            "hotline_calls_received", "Calls that reached the service (呼出件数)",
            ["period", "entry"], registry=r,
        )  # fmt: skip
        self.selected = Counter(
            "hotline_menu_selections", "Calls that chose an option (per-option denominator)",
            ["period", "option"], registry=r,
        )  # fmt: skip
        self.connected = Counter(
            "hotline_calls_connected", "Calls a counsellor accepted (接続完了)",
            ["period", "option", "entry", "org"], registry=r,
        )  # fmt: skip
        self.abandoned = Counter(
            "hotline_calls_abandoned", "Callers who hung up before a counsellor accepted",
            ["period", "option", "stage"], registry=r,
        )  # fmt: skip
        self.closed_calls = Counter(
            "hotline_calls_closed", "Calls that heard the closed message (no staffed line)",
            ["period", "option"], registry=r,
        )  # fmt: skip
        self.queue_full = Counter(
            "hotline_calls_queue_full",
            "Calls Twilio's full queue would not take (QueueResult queue-full): they heard "
            "the lines are very busy and what is open now", ["period", "option"], registry=r,
        )  # fmt: skip
        # No period label on histograms: a period is a time range, and 12 buckets x periods
        # x options would be most of the series for little gain.
        self.wait = Histogram(
            "hotline_wait_seconds", "Queue wait: to the counsellor's accept, or to hanging up",
            ["option", "outcome"], buckets=WAIT_BUCKETS, registry=r,
        )  # fmt: skip
        self.callbacks = Counter(
            "hotline_callbacks",
            "Callback requests: requested, attempted (a call to the caller placed), connected, "
            "failed (not reached after every try), expired (past the option's hours)",
            ["period", "option", "outcome"], registry=r,
        )  # fmt: skip
        self.callback_wait = Histogram(
            "hotline_callback_wait_seconds",
            "Callbacks connected: from first joining the queue to the conversation",
            ["option"], buckets=CALLBACK_BUCKETS, registry=r,
        )  # fmt: skip
        self.talk = Histogram(
            "hotline_talk_seconds", "Conversation length of completed calls",
            ["option"], buckets=TALK_BUCKETS, registry=r,
        )  # fmt: skip

    def _service(self, r: CollectorRegistry) -> None:
        """How the service and the lines did: webhooks, forced ends, the spool, the lines."""
        self.webhook = Histogram(
            "hotline_webhook_duration_seconds", "Time to answer a Twilio webhook, by route",
            ["route"], buckets=WEBHOOK_BUCKETS, registry=r,
        )  # fmt: skip
        self.responses = Counter(
            "hotline_webhook_responses", "Webhook answers by route and HTTP status",
            ["route", "status"], registry=r,
        )  # fmt: skip
        self.forced = Counter(
            "hotline_calls_force_ended",
            "Calls ended by reconciliation: Twilio said so, max conversation length, operator",
            ["reason"], registry=r,
        )  # fmt: skip
        self.turned_away = Counter(
            "hotline_calls_turned_away",
            "Calls not taken in the menu: a flagged caller (blocked) or a withheld number the "
            "option does not accept (withheld)",
            ["reason"], registry=r,
        )  # fmt: skip
        self.spool_backlog = Gauge(
            "hotline_spool_backlog",
            "Webhook facts kept in this instance's spool while the database was away",
            registry=r,
        )
        self.spool_dropped = Counter(
            "hotline_spool_dropped", "Webhook facts the full spool could not keep", registry=r
        )
        self.missed_away = Counter(
            "hotline_lines_missed_away",
            "Lines paused (away) after offers in a row not accepted",
            ["org"], registry=r,
        )  # fmt: skip
        self.wrap_up = Histogram(
            "hotline_wrap_up_seconds", "Wrap-up after a conversation (writing the record)",
            ["org"], buckets=TALK_BUCKETS, registry=r,
        )  # fmt: skip
        self.hard_calls = Counter(
            "hotline_hard_calls", "Calls marked hard (by the counsellor, or a record's risk level)",
            ["org", "source"], registry=r,
        )  # fmt: skip
        self.care_breaks = Counter(
            "hotline_care_breaks", "Breaks lines took by themselves (after a hard call, long talk)",
            ["org", "reason"], registry=r,
        )  # fmt: skip

    def _room(self, r: CollectorRegistry) -> None:
        """The conference room (docs/conference.md): holds, transfers, three-way calls,
        emergency escalations, supervisions and help requests."""
        self.holds = Counter(
            "hotline_conference_holds", "Callers put on hold by their counsellor",
            ["option"], registry=r,
        )  # fmt: skip
        self.transfers = Counter(
            "hotline_transfers",
            "Calls handed to another party: warm (the counsellor talked to it first, then "
            "left the caller with it) or cold (to another option's queue)",
            ["option", "target", "mode"], registry=r,
        )  # fmt: skip
        self.three_way = Counter(
            "hotline_three_way_calls", "Third parties brought into a conversation",
            ["option", "target"], registry=r,
        )  # fmt: skip
        self.escalations = Counter(
            "hotline_emergency_escalations",
            "Emergency direct lines dialled into a call: connected (joined) or failed",
            ["service", "outcome"], registry=r,
        )  # fmt: skip
        self.supervisions = Counter(
            "hotline_supervisions", "Supervisors who listened to, coached or joined a call",
            ["mode"], registry=r,
        )  # fmt: skip
        self.help_requests = Counter(
            "hotline_help_requests", "Counsellors' help requests to the supervisors on duty",
            ["org"], registry=r,
        )  # fmt: skip
        for service in room.SERVICES:
            for outcome in room.OUTCOMES:
                self.escalations.labels(service, outcome)
        for mode in room.SUPERVISION:
            self.supervisions.labels(mode)

    def _zeros(self, cfg: HotlineConfig) -> None:
        # Every configured period x offered option starts at zero. Organisations and the
        # `other` entry only get a first series (the first one to answer the option): with
        # every combination, 50 periods would make 20,000 series and a slow scrape.
        entries = [e.id for e in cfg.entry_numbers]
        for period in labels.periods(cfg):
            p, offered = period.id, labels.offered_options(cfg, period.menu)
            for e in entries:
                self.received.labels(p, e)
            self.abandoned.labels(p, NONE, "menu")
            for o in offered:
                self.selected.labels(p, o)
                self.closed_calls.labels(p, o)
                self.queue_full.labels(p, o)
                for stage in ("waiting", "ringing", "callback"):
                    self.abandoned.labels(p, o, stage)
                for outcome in CALLBACK_OUTCOMES:
                    self.callbacks.labels(p, o, outcome)
                for e in entries:
                    self.connected.labels(p, o, e, labels.serving_orgs(cfg, o)[0])
        for o in labels.option_ids(cfg):
            self.talk.labels(o)
            self.callback_wait.labels(o)
            for outcome in OUTCOMES:
                self.wait.labels(o, outcome)

    def routes(self, paths: list[str]) -> None:
        """Start the webhook series of these route templates at zero."""
        for path in paths:
            self.webhook.labels(path)
