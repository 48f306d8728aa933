"""DDon-DDon Stock: offline-first store inventory."""

from ensemble.apps.stock.cli import cli
from ensemble.apps.stock.endpoints import routers
from ensemble.apps.stock.models import SCHEMA
from ensemble.kernel.modules import AppModule

app = AppModule(
    name="stock",
    title="DDon-DDon Stock",
    description=(
        "Offline-first store inventory: stores, categories, products, an append-only stock "
        "log with current stock kept in step, and batch sync for devices that were offline."
    ),
    routers=routers,
    cli=cli,
    schemas=(SCHEMA,),
)
