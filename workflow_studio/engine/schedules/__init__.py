"""Schedules: cron and interval triggers that fire exactly one run per tick across every
process and node.

- ``cron``: the cron library behind one interface (parse with positions, iterate, explain);
- ``spec``: a schedule's ticks in time, with the DST policy;
- ``policy``: which due ticks fire (catch-up), as a pure function;
- ``firing``: the transactions that claim ticks, apply the overlap policy and start runs;
- ``loop``: the ``Scheduler`` thread every worker process runs;
- ``service``: definitions (create, change, pause, resume, delete, config reconciliation);
- ``render``: the API's JSON.
"""

from workflow_studio.engine.schedules.cron import Cron, CronError
from workflow_studio.engine.schedules.loop import Scheduler
from workflow_studio.engine.schedules.service import ScheduleConflict, ScheduleInvalid
from workflow_studio.engine.schedules.spec import Spec, SpecError

__all__ = ["Cron", "CronError", "ScheduleConflict", "ScheduleInvalid", "Scheduler", "Spec",
           "SpecError"]
