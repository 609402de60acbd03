"""Settings of the warm pool (env prefix ``BUREAU_POOL_``); size 0 (the default) turns it off."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PoolSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BUREAU_POOL_", extra="ignore")

    size: int = Field(default=0, ge=0, le=64)
    """Prepared clones kept per size class (0 = no pool: every desk boots cold)."""
    size_classes: str = "small"
    """Comma-separated size classes that get a pool (see orchestrator.drivers.base.DESK_SIZES)."""
    restore_timeout_seconds: float = Field(default=10.0, gt=0)
    """A restore that has not completed by then is killed (a broken stream spins forever)."""
    resume_timeout_seconds: float = Field(default=120.0, gt=0)
    """Resume + enrollment of a restored clone."""
    template_boot_timeout_seconds: float = Field(default=1500.0, gt=0)
    """Boot of the template until its unassigned agent answers: it imports and warms the whole
    agent first (LanceDB, pyarrow, the token encoding, the app), ~10-13 min under TCG on a loaded
    2-CPU host."""
    memory_budget_mib: int | None = Field(default=None, ge=0)
    """Guest memory the pool's clones may hold at once (default: the qemu driver's limit)."""
    refill_interval_seconds: float = Field(default=5.0, gt=0)
    clone_tcg_tb_size_mib: int | None = Field(default=None, ge=32, le=2048)
    """TCG translation cache of a clone (MiB; None: the template's, i.e. the qemu driver's
    ``BUREAU_QEMU_TCG_TB_SIZE_MIB``). Not part of the migrated state, so a clone may use a smaller
    one than its template: it bounds what each idle clone holds for translated code. Measured
    (bench/desk_ready_pool.py, TCG, 2 CPUs): 128 / 64 / 32 MiB -> ready p50 2.65 / 3.36 / 4.69 s,
    idle PSS of a lone clone 433 / 376 / 339 MiB. Default: the template's (ready time first)."""

    def classes(self) -> list[str]:
        return [name.strip() for name in self.size_classes.split(",") if name.strip()]
