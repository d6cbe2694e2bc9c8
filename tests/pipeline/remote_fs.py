"""A URL-scheme filesystem for tests: `wtfs:///abs/path` is the local file `/abs/path`.

Beam's `FileSystems` picks a filesystem by the scheme before `://`, as it does for `gs://`;
this one stands in for Cloud Storage (unreachable here) so that the code paths the build takes
for a remote location - listing through `FileSystems.match`, reading through
`FileSystems.open` - run for real. Registered by being imported (Beam finds `FileSystem`
subclasses), so it serves pipelines that run in the test's process (`--workers 1`).
"""

from __future__ import annotations

import os

from apache_beam.io.filesystem import CompressionTypes, FileMetadata
from apache_beam.io.localfilesystem import LocalFileSystem

PREFIX = "wtfs://"


def remote(path) -> str:
    """The `wtfs://` location of a local absolute path."""
    return PREFIX + os.path.abspath(path)


class WtFileSystem(LocalFileSystem):
    @classmethod
    def scheme(cls):
        return "wtfs"

    @staticmethod
    def _local(path: str) -> str:
        return path[len(PREFIX):] if path.startswith(PREFIX) else path

    def join(self, basepath, *paths):
        return PREFIX + os.path.join(self._local(basepath), *paths)

    def split(self, path):
        head, tail = os.path.split(self._local(path))
        return PREFIX + head, tail

    def _url_dirname(self, url_or_path):
        return PREFIX + os.path.dirname(self._local(url_or_path))

    def _list(self, dir_or_prefix):
        root = self._local(dir_or_prefix)
        for dirpath, _, files in os.walk(root):
            for name in files:
                f = os.path.join(dirpath, name)
                yield FileMetadata(PREFIX + f, os.path.getsize(f), os.path.getmtime(f))

    def exists(self, path):
        return os.path.exists(self._local(path))

    def metadata(self, path):
        m = super().metadata(self._local(path))
        return FileMetadata(path, m.size_in_bytes, m.last_updated_in_seconds)

    def size(self, path):
        return super().size(self._local(path))

    def open(self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO):
        return super().open(self._local(path), mime_type, compression_type)

    def create(self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO):
        return super().create(self._local(path), mime_type, compression_type)
