"""What a crawl starts from: the settings, the library, and the identities
it can use registered with the library (once per process for each set of
files)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ._browsers import use_identities
from ._config import HandlerConfig, TLSClientSettingsError
from ._identities import Identity, IdentityFileError, load_identities, packaged_identity_files
from .binding.errors import NativeLibraryError
from .binding.library import NativeLibrary, load_library

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

__all__ = ["REQUIRED_CAPABILITIES", "CrawlSetup", "crawl_setup", "identities_for"]

_lock = threading.Lock()
_registered: dict[tuple[str, tuple[str, ...]], dict[str, Identity]] = {}


def identities_for(library: NativeLibrary, extra_files: tuple[str, ...]) -> dict[str, Identity]:
    """The packaged identities plus ``extra_files`` (TLS_CLIENT_IDENTITY_FILES),
    registered with ``library``. Raises IdentityFileError naming the file
    and the field of the first problem."""
    key = (library.info.path, extra_files)
    with _lock:
        known = _registered.get(key)
        if known is not None:
            return known
        identities = load_identities([*packaged_identity_files(), *(Path(path) for path in extra_files)])
        for identity in identities.values():
            if identity.name in library.info.profiles:
                raise IdentityFileError(
                    f"{identity.path}: field name: {identity.name!r} is one of tls-client's compiled "
                    "profiles; an identity needs a name of its own"
                )
            try:
                # One at a time, so an error names its file.
                library.register_profiles([identity.wire])
            except ValueError as exc:
                raise IdentityFileError(f"{identity.path}: {_field_of(str(exc))}") from None
        use_identities(identities)
        _registered[key] = identities
        return identities


def _field_of(message: str) -> str:
    """The library says 'profiles[0] ("name"): identity field tls.x: ...';
    the file is named already, so keep 'field tls.x: ...'."""
    _, found, rest = message.partition("identity field ")
    return f"field {rest}" if found else message


@dataclass(frozen=True)
class CrawlSetup:
    """What every component of this package starts a crawl from: the
    settings read once, the library loaded, the identities registered and
    the profile checked against them."""

    config: HandlerConfig
    library: NativeLibrary
    identities: dict[str, Identity]
    #: Every profile name a request may use: compiled ones and identities.
    profiles: frozenset[str]


def crawl_setup(settings: BaseSettings) -> CrawlSetup:
    """Read ``settings``, load the library they name and register the
    identity files. Raises TLSClientSettingsError naming what is wrong (a
    library that cannot be loaded, or that is not this project's, included):
    the caller stops the crawl at start with it."""
    config = HandlerConfig.from_settings(settings)
    try:
        library = load_library(config.library_path)
    except NativeLibraryError as exc:  # not found or not loadable: nothing can be downloaded
        raise TLSClientSettingsError(str(exc)) from None
    missing = [name for name in REQUIRED_CAPABILITIES if not library.supports(name)]
    if missing:
        raise TLSClientSettingsError(
            f"{library.info.path} is {library.info.version}, not this project's tls-client library (it lacks "
            f"{', '.join(missing)}). Unset TLS_CLIENT_LIBRARY_PATH / SCRAPY_TLSCLIENT_LIBRARY to use "
            "the library built into the package."
        )
    try:
        identities = identities_for(library, config.identity_files)
    except IdentityFileError as exc:
        raise TLSClientSettingsError(f"TLS_CLIENT_IDENTITY_FILES: {exc}") from None
    profiles = frozenset(library.info.profiles | identities.keys())
    config = config.with_profile_of(profiles, library.info.default_profile)
    return CrawlSetup(config, library, identities, profiles)


#: What the handler needs of the library beyond upstream's exports: the
#: completion socket, identities as data and reads into lent memory.
REQUIRED_CAPABILITIES = ("attachCompletionSocket", "registerProfiles", "readStreamInto")
