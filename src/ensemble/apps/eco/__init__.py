"""ECO²: photograph waste, learn how to dispose of it, collect characters for recycling."""

from ensemble.apps.eco.cli import cli
from ensemble.apps.eco.consumers import CONSUMERS
from ensemble.apps.eco.domain import lexicon
from ensemble.apps.eco.endpoints import routers
from ensemble.apps.eco.models import CHARACTER, LOCATION, SCHEMAS, Centre, Character
from ensemble.apps.eco.read_models import PROJECTIONS
from ensemble.apps.eco.settings import ECO
from ensemble.apps.eco.tasks import JOBS
from ensemble.kernel.modules import AppModule

app = AppModule(
    name="eco",
    title="ECO²",
    description=(
        "Photograph waste, get it classified with a disposal guide, collect characters for "
        "recycling right, climb the weekly ranking, find recycling centres nearby. Every "
        "write flows through events: outbox, idempotent consumers, a choreographed saga "
        "with compensation, event-sourced characters and rebuildable read models."
    ),
    routers=routers,
    cli=cli,
    jobs=JOBS,
    consumers=CONSUMERS,
    projections=PROJECTIONS,
    warm_up=(lexicon,),  # the categories, their guides and compiled words
    resources=ECO,
    schemas=SCHEMAS,
    reference_tables=(
        f"{CHARACTER}.{Character.__tablename__}",
        f"{LOCATION}.{Centre.__tablename__}",
    ),
)
