"""Focus Mate: shared pomodoro rooms with a server-authoritative timer."""

from ensemble.apps.focus.cli import cli
from ensemble.apps.focus.endpoints import routers
from ensemble.apps.focus.models import SCHEMA
from ensemble.apps.focus.settings import FOCUS
from ensemble.apps.focus.tasks import JOBS
from ensemble.kernel.modules import AppModule

app = AppModule(
    name="focus",
    title="Focus Mate",
    description=(
        "Focus together: a room runs one shared work/break timer that every participant sees"
        " tick in sync, kept by the server and advanced on time with nobody connected."
        " Around it: sessions, stats and streaks, achievements, community posts, 1:1"
        " messages, notifications and settings."
    ),
    routers=routers,
    cli=cli,
    jobs=JOBS,
    resources=FOCUS,
    schemas=(SCHEMA,),
)
