"""Casino-Club: an invite-only gamified membership with virtual currencies (coins, gems)."""

from ensemble.apps.casino.actions import endpoints as actions_endpoints
from ensemble.apps.casino.cli import cli
from ensemble.apps.casino.consumers import CONSUMERS
from ensemble.apps.casino.endpoints import routers
from ensemble.apps.casino.models import SCHEMA
from ensemble.apps.casino.settings import CASINO
from ensemble.apps.casino.tasks import JOBS
from ensemble.kernel.modules import AppModule

app = AppModule(
    name="casino",
    title="Casino-Club",
    description=(
        "Invite-only members play a slot and a gacha with virtual currency (coins earned,"
        " gems bought), collect rewards, streaks and achievements, climb ranks, VIP tiers and"
        " leaderboards, and shop. Nothing converts back to money. This part: invites,"
        " accounts (login by nickname), ranks, sessions and profiles."
    ),
    routers=routers,
    direct_routes=(actions_endpoints.DIRECT,),
    cli=cli,
    consumers=CONSUMERS,
    resources=CASINO,
    jobs=JOBS,
    schemas=(SCHEMA,),
    reference_tables=(
        f"{SCHEMA}.items",
        f"{SCHEMA}.products",
        f"{SCHEMA}.gacha_banners",
        f"{SCHEMA}.gacha_rate_tables",
        f"{SCHEMA}.action_types",
        f"{SCHEMA}.unlock_contents",
        f"{SCHEMA}.unlock_stages",
        f"{SCHEMA}.recommendation_rules",
        f"{SCHEMA}.vip_tiers",
        f"{SCHEMA}.missions",
    ),
)
