"""Loading the identities a crawl can use and registering them with the
library, once per process for each set of files."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ._browsers import use_identities
from ._identities import Identity, IdentityFileError, load_identities, packaged_identity_files

if TYPE_CHECKING:
    from .binding.library import NativeLibrary

__all__ = ["identities_for"]

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
