# Copyright 2026 The adaptive_depth Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""
What every command-line tool shares: exit codes, the ``main`` wrapper and the ``--out`` policy.

Exit codes (the same for every tool; documented in docs/tools.md):

====  ============================================================================
0     success
1     internal error (a bug: the traceback is printed)
2     user error: a bad argument, a missing / unreadable / malformed input file,
      a used ``--out`` without ``--overwrite`` (one line on stderr names the problem)
3     the tool ran but its check failed (``synthetic_experiment --require-gap``)
130   interrupted (Ctrl-C / SIGINT); the tool says what can be resumed
====  ============================================================================

Output policy: a tool refuses to write into an ``--out`` that already holds files unless
``--overwrite`` (replace it) or, for the tools that can continue an interrupted run,
``--resume`` is given (:func:`check_out`); it always refuses an output that is one of its
inputs or holds one, which replacing would delete (``check_out(..., inputs=...)``).
"""

import argparse
import functools
from pathlib import Path
import shutil
import sys
import traceback
from typing import Callable, Iterable, List, Optional, Sequence, Union

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USER = 2
EXIT_CHECK_FAILED = 3
EXIT_INTERRUPTED = 130

PathLike = Union[str, Path]
MAX_DOMAIN_ID = 232
"""The largest ROS 2 domain id a tool's ``--domain-id`` takes (0..232, as ROS 2 allows)."""


class UserError(ValueError):
    """A problem with the user's arguments or files (one line, exit code 2; a ValueError)."""


class Interrupted(Exception):
    """Raised by a tool to report an interruption with its own message (exit code 130)."""


def one_line(exc: BaseException) -> str:
    """Return the message of ``exc`` on one line (whitespace collapsed; the type if empty)."""
    text = ' '.join(str(exc).split())
    if isinstance(exc, KeyError) and text:
        text = f'missing key {text}'
    return text or type(exc).__name__


def tool_main(prog: str, interrupted: str = 'interrupted'
              ) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """
    Decorate a tool's ``main(argv) -> int`` with the shared error handling and exit codes.

    User errors (:class:`UserError`, ``ValueError`` – every project error derives from it – and
    ``OSError``, e.g. missing or unwritable files and ``ModelLoadError``) print
    ``PROG: error: MESSAGE`` as one line and return 2; ``KeyboardInterrupt`` prints
    ``PROG: INTERRUPTED`` (``interrupted`` may say what can be resumed) and returns 130; any other
    exception is an internal error: its traceback is printed and 1 returned. argparse's own exit
    (2 for bad options, 0 for --help) passes through unchanged.
    """
    def decorate(func: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(func)
        def wrapper(*args, **kwargs) -> int:
            try:
                code = func(*args, **kwargs)
            except KeyboardInterrupt:
                print(f'{prog}: {interrupted}', file=sys.stderr, flush=True)
                return EXIT_INTERRUPTED
            except Interrupted as exc:
                print(f'{prog}: {one_line(exc)}', file=sys.stderr, flush=True)
                return EXIT_INTERRUPTED
            except (UserError, ValueError, OSError) as exc:
                print(f'{prog}: error: {one_line(exc)}', file=sys.stderr, flush=True)
                return EXIT_USER
            except Exception:  # noqa: B902 - anything else is a bug: show where it happened
                traceback.print_exc()
                print(f'{prog}: internal error (a bug; please report the traceback above)',
                      file=sys.stderr, flush=True)
                return EXIT_INTERNAL
            return EXIT_OK if code is None else int(code)
        return wrapper
    return decorate


def check_device(device: str, option: str = '--device') -> None:
    """
    Stop with a :class:`UserError` unless this machine can run on ``device``.

    For tools that prepare data for minutes before their first use of the device: a typo or
    ``cuda`` on a CPU-only torch is reported at once, naming ``option``.
    """
    from adaptive_depth.depth_model import resolve_device   # imports torch: only when called

    try:
        resolve_device(device)
    except ValueError as exc:
        raise UserError(f'{option} {device}: {exc}') from None


def is_used(path: PathLike) -> bool:
    """Return True if ``path`` exists and is a file or a directory that holds anything."""
    path = Path(path).expanduser()
    if not path.exists() and not path.is_symlink():
        return False
    if path.is_dir():
        return any(path.iterdir())
    return True


def check_out(path: PathLike, overwrite: bool = False, resume: Optional[bool] = None,
              option: str = '--out', kind: str = 'directory',
              resume_option: str = '--resume', inputs: Iterable[Optional[PathLike]] = ()
              ) -> Path:
    """
    Apply the output policy to ``path`` and return it (expanded, not created).

    A missing path or an empty directory is fine. A used one (see :func:`is_used`) is refused
    with a :class:`UserError` unless ``overwrite`` or ``resume`` is true; ``resume=None`` means
    the tool has no ``--resume`` (``resume_option`` names the tool's flag). A path that exists
    but is not a directory is always refused when ``kind`` is ``'directory'``. So is a path that
    is one of ``inputs`` (files or folders the tool reads; None entries are skipped) or holds
    one, with or without ``--overwrite``: replacing it would delete the input.
    """
    path = Path(path).expanduser()
    target = path.resolve()
    for item in inputs:
        if item is None:
            continue
        source = Path(item).expanduser().resolve()
        if source == target or target in source.parents:
            raise UserError(f'{option} {path} is or holds the input {item}; writing there would '
                            'replace it: choose another path')
    if kind == 'directory' and path.exists() and not path.is_dir():
        raise UserError(f'{option} {path} exists and is not a directory')
    if is_used(path) and not overwrite and not resume:
        how = '--overwrite to replace it'
        if resume is not None:
            how = f'{resume_option} to continue an interrupted run or ' + how
        raise UserError(f'{option} {path} already holds files; pass {how} '
                        '(or choose another path)')
    return path


def spec_paths(specs: Iterable[str]) -> List[Path]:
    """
    Return the existing files and folders named by dataset specs (``KIND:PATH[?options]``).

    For :func:`check_out`'s ``inputs``; specs without a path (``synthetic:N``) give none.
    """
    paths = []
    for spec in specs:
        arg = str(spec).split(':', 1)[-1]
        for candidate in (arg, arg.rpartition('?')[0]):
            if candidate and Path(candidate).expanduser().exists():
                paths.append(Path(candidate).expanduser())
                break
    return paths


def count_arg(text: str) -> int:
    """Parse an argparse count (threads, workers, frames): an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected an integer >= 0, got {text!r}') from None
    if value < 0:
        raise argparse.ArgumentTypeError(f'expected an integer >= 0, got {value}')
    return value


def clear_dir(path: PathLike) -> None:
    """Remove everything inside the directory ``path`` (the directory itself stays)."""
    path = Path(path)
    if not path.is_dir():
        return
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def argv_list(argv: Optional[Sequence[str]]) -> list:
    """Return ``argv`` as a list (``sys.argv[1:]`` when None)."""
    return list(sys.argv[1:] if argv is None else argv)


def store_once(hint: str) -> type:
    """
    Return an argparse action that stores one value and refuses a second one.

    argparse's plain ``store`` keeps the last of repeated options silently; an option such as
    ``generate_oracle --data`` must not drop the first source a user gave. ``hint`` says what
    to do instead and ends the error message.
    """
    class StoreOnce(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None):
            old = getattr(namespace, self.dest, None)
            if old is not None and old != self.default:
                raise argparse.ArgumentError(
                    self, f'given twice ({old!r}, then {values!r}): {hint}')
            setattr(namespace, self.dest, values)

    return StoreOnce
