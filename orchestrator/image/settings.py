"""Where the guest image is built, cached and installed (env prefix ``BUREAU_IMAGE_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_IMAGE_NAME = "bureau-bookworm"


class ImageSettings(BaseSettings):
    """Image build settings. The cache lives outside the clone so CI re-uses it across clones."""

    model_config = SettingsConfigDict(env_prefix="BUREAU_IMAGE_", extra="ignore")

    cache: Path = Path("/var/cache/bureau/images")
    """Build cache (root filesystems, wheels, finished images). Env ``BUREAU_IMAGE_CACHE``."""
    mirror: str = "http://deb.debian.org/debian"
    """Debian mirror for debootstrap (offline source)."""
    recipe_dir: Path = REPO_ROOT / "agent_image" / "image"
    agent_dir: Path = REPO_ROOT / "agent_image"
    root_size_gib: int = Field(default=4, ge=2, le=64)
    """Size of the guest's root filesystem (each desk's overlay grows into it copy-on-write)."""
    cloud_image_url: str = (
        "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2"
    )
    """Online source: Debian's official genericcloud image (SHA512SUMS next to it)."""
