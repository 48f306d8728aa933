"""B0: a travel-themed points app — airship tickets, guesthouse rooms, chat, diaries."""

from ensemble.apps.b0.cli import cli
from ensemble.apps.b0.endpoints import routers
from ensemble.apps.b0.models import SCHEMA
from ensemble.apps.b0.settings import B0
from ensemble.apps.b0.tasks import JOBS
from ensemble.kernel.modules import AppModule

app = AppModule(
    name="b0",
    title="B0",
    description=(
        "Earn points, buy airship tickets to cities, arrive and check into a guesthouse room, "
        "chat with the other guests, keep a diary. Sign in with the identity provider's token "
        "(`ensemble b0 dev-token` makes one for trying it out)."
    ),
    routers=routers,
    cli=cli,
    jobs=JOBS,
    resources=B0,
    schemas=(SCHEMA,),
)
