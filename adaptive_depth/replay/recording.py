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

"""The replay's output recording: input topics copied in log-time order, node outputs added."""

from pathlib import Path
import sys
from typing import Any, Dict, Iterator, Optional, Sequence, Tuple

from adaptive_depth.bagio import BagReader, OUTPUT_TYPES, OutputBagWriter
from adaptive_depth.replay.messages import NodeOutputs


class InputCopier:
    """Copy the input topics (as Jazzy CDR) into the output bag in log-time order."""

    def __init__(self, bag: Path, topics: Sequence[str], writer: OutputBagWriter) -> None:
        self._reader = BagReader(bag).open_bag()
        self._iter: Iterator = self._reader.iter_cdr(list(topics))
        self._next: Optional[Tuple[str, str, int, bytes]] = None
        self._writer = writer
        self._done = False

    def advance(self, until_ns: Optional[int] = None) -> None:
        """Write every input message with log time <= ``until_ns`` (all when None)."""
        while not self._done:
            if self._next is None:
                try:
                    self._next = next(self._iter)
                except StopIteration:
                    self._done = True
                    break
            topic, msgtype, log_time, data = self._next
            if until_ns is not None and log_time > until_ns:
                return
            self._writer.write_cdr(topic, msgtype, log_time, data)
            self._next = None

    def close(self) -> None:
        """Close the reader."""
        self._reader.close()


def write_outputs(writer: OutputBagWriter, names: Dict[str, str], log_time: int,
                  out: NodeOutputs) -> None:
    """Write one frame's node outputs (those that exist) at ``log_time`` (ns)."""
    writer.write_msg(names['depth'], OUTPUT_TYPES['depth'], log_time, out.depth)
    if out.info is not None:
        writer.write_msg(names['depth_info'], OUTPUT_TYPES['depth_info'], log_time, out.info)
    if out.points is not None:
        writer.write_msg(names['points'], OUTPUT_TYPES['points'], log_time, out.points)
    writer.write_msg(names['scale'], OUTPUT_TYPES['scale'], log_time, out.scale)


def progress(total: int, desc: str) -> Any:
    """Return a tqdm progress bar over ``total`` frames on stderr."""
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit='frame', dynamic_ncols=True, file=sys.stderr)
