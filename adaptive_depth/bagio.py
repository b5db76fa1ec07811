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
Reading camera recordings from ROS bags and writing rosbag2 (MCAP) output, without ``rclpy``.

Reading uses ``rosbags.highlevel.AnyReader`` and works for ROS 1 ``.bag`` files (message
definitions come from the bag) and rosbag2 recordings (a directory, or a single ``.db3``/``.mcap``
file; definitions from the bag when stored, otherwise the ROS 2 Jazzy type store). Every message
handed out is a ``rosbags`` message of the ROS 2 Jazzy type (ROS 1 messages are migrated, e.g.
``CameraInfo.K`` → ``k`` and the header ``seq`` dropped), so ``adaptive_depth.ros.conversions``
works on all of them.

A *frame* is one colour image (``sensor_msgs/Image`` or ``sensor_msgs/CompressedImage``) with the
latest camera_info whose header stamp is not after the image (else the nearest one) and, when a
depth topic is used, the depth image (16UC1 millimetres or 32FC1 metres, registered to the colour
camera) whose header stamp is nearest to the image's, if within a tolerance. Stamps are header
stamps in nanoseconds (the log time when a header stamp is zero).

Writing (:class:`OutputBagWriter`) produces a rosbag2 MCAP directory in a hidden temporary
directory next to the target, renamed to the target only when everything succeeded.
"""

from dataclasses import dataclass, field
import os
from pathlib import Path
import shutil
import tempfile
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from adaptive_depth.geometry import Intrinsics
from adaptive_depth.ros import conversions
import numpy as np

PathLike = Union[str, Path]

IMAGE = 'sensor_msgs/msg/Image'
COMPRESSED_IMAGE = 'sensor_msgs/msg/CompressedImage'
CAMERA_INFO = 'sensor_msgs/msg/CameraInfo'
POINT_CLOUD2 = 'sensor_msgs/msg/PointCloud2'
VECTOR3_STAMPED = 'geometry_msgs/msg/Vector3Stamped'
DEPTH_ENCODINGS = ('16UC1', 'mono16', '32FC1')
ROSBAG2_VERSION = 8
"""rosbag2 metadata version written (8 is read by Jazzy and later)."""


class BagError(ValueError):
    """A problem with a bag the user gave (bad path, missing topic, corrupt data, …)."""


class BagTopicError(BagError):
    """A required topic is missing or of the wrong type; the message lists the bag's topics."""


class BagReadError(BagError):
    """The bag (or part of it) cannot be read or decoded."""


@dataclass(frozen=True)
class TopicSummary:
    """One topic of a bag: name, message type (ROS 2 style, e.g. sensor_msgs/msg/Image), count."""

    name: str
    msgtype: str
    count: int


@dataclass(frozen=True)
class CameraTopics:
    """The topics a frame is built from; ``image_type`` is IMAGE or COMPRESSED_IMAGE."""

    image: str
    image_type: str
    info: Optional[str] = None
    depth: Optional[str] = None

    @property
    def used(self) -> List[str]:
        """Return the topic names in use (image, info, depth; those that are set)."""
        return [t for t in (self.image, self.info, self.depth) if t]


@dataclass
class BagFrame:
    """
    One colour frame of a bag with its camera_info and (optional) paired depth.

    ``rgb`` is H×W×3 uint8 (None when decoding was not requested), ``depth`` H×W float32 metres
    with NaN where invalid (None when no depth was paired), ``intrinsics`` those of the colour
    image (None without camera_info). ``index`` counts colour messages from 0 in bag order;
    ``stamp_ns`` is the image header stamp and ``log_time_ns`` the bag's record time.
    """

    index: int
    stamp_ns: int
    log_time_ns: int
    frame_id: str
    image_msg: Any
    rgb: Optional[np.ndarray] = None
    info_msg: Any = None
    intrinsics: Optional[Intrinsics] = None
    depth: Optional[np.ndarray] = None
    depth_stamp_ns: Optional[int] = None
    depth_msg: Any = None


@dataclass
class FrameIndex:
    """
    Stamps of a bag's frames and their pairing, computed in one pass over the headers.

    Arrays are int64 nanoseconds; ``depth_match[i]`` is the index into the depth stream paired
    with colour message ``selected[i]`` or -1; ``info_match[i]`` likewise for camera_info.
    """

    topics: CameraTopics
    color_stamps: np.ndarray
    color_log_times: np.ndarray
    depth_stamps: np.ndarray
    depth_log_times: np.ndarray
    info_stamps: np.ndarray
    selected: np.ndarray
    depth_match: np.ndarray
    info_match: np.ndarray
    infos: List[Any] = field(default_factory=list)

    def __len__(self) -> int:
        """Return the number of selected colour frames."""
        return int(self.selected.size)

    @property
    def paired(self) -> np.ndarray:
        """Return the positions (into ``selected``) of frames that have a paired depth."""
        return np.flatnonzero(self.depth_match >= 0)


def stamp_to_ns(header: Any) -> int:
    """Return a ``std_msgs/Header`` stamp in integer nanoseconds."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def _jazzy_typestore() -> Any:
    from rosbags.typesys import get_typestore, Stores
    return get_typestore(Stores.ROS2_JAZZY)


def _topic_table(topics: Dict[str, TopicSummary]) -> str:
    if not topics:
        return '  (the bag has no topics)'
    return '\n'.join(f'  {t.name} [{t.msgtype}] ({t.count} messages)'
                     for t in sorted(topics.values(), key=lambda t: t.name))


def _namespace(topic: str) -> str:
    parts = topic.rstrip('/').split('/')
    if parts and parts[-1] == 'compressed':
        parts = parts[:-1]
    return '/'.join(parts[:-1])


def _match_nearest(query: np.ndarray, ref: np.ndarray, tolerance_ns: int) -> np.ndarray:
    """Index into sorted-or-not ``ref`` of the nearest stamp to each query, -1 if > tolerance."""
    out = np.full(query.shape, -1, dtype=np.int64)
    if ref.size == 0 or query.size == 0:
        return out
    order = np.argsort(ref, kind='stable')
    sorted_ref = ref[order]
    pos = np.searchsorted(sorted_ref, query)
    left = np.clip(pos - 1, 0, sorted_ref.size - 1)
    right = np.clip(pos, 0, sorted_ref.size - 1)
    d_left = np.abs(query - sorted_ref[left])
    d_right = np.abs(sorted_ref[right] - query)
    best = np.where(d_right < d_left, right, left)
    dist = np.minimum(d_left, d_right)
    ok = dist <= tolerance_ns
    out[ok] = order[best[ok]]
    return out


def _match_latest(query: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Index of the latest ``ref`` stamp <= each query (else the earliest); -1 if none."""
    if ref.size == 0:
        return np.full(query.shape, -1, dtype=np.int64)
    order = np.argsort(ref, kind='stable')
    sorted_ref = ref[order]
    pos = np.searchsorted(sorted_ref, query, side='right') - 1
    return order[np.clip(pos, 0, sorted_ref.size - 1)]


class BagReader:
    """
    Read camera, camera_info and depth topics from a ROS 1 bag or a rosbag2 recording.

    Use as a context manager (or call :meth:`open_bag`/:meth:`close`). Every failure that comes
    from the bag raises a :class:`BagError` subclass whose message names the bag path.
    """

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path).expanduser()
        if not self.path.exists():
            raise FileNotFoundError(f'bag not found: {self.path}')
        self._reader: Any = None
        self._conns: Dict[str, list] = {}
        self._jazzy: Any = None
        self._migrate_cache: Dict[str, object] = {}
        self._same_wire: Dict[str, bool] = {}

    # ------------------------------------------------------------------ opening
    def open_bag(self) -> 'BagReader':
        """Open the bag; raises :class:`BagReadError` when it is not a readable bag."""
        if self._reader is not None:
            return self
        from rosbags.highlevel import AnyReader

        self._jazzy = _jazzy_typestore()
        path = self.path
        if path.is_dir() and not (path / 'metadata.yaml').exists():
            raise BagReadError(
                f'{path} is a directory without metadata.yaml: not a rosbag2 recording '
                '(give the bag directory, a .mcap/.db3 file or a ROS 1 .bag file)')
        if path.is_file() and path.suffix not in ('.bag', '.mcap', '.db3'):
            raise BagReadError(
                f'{path}: unknown bag format {path.suffix!r} (expected a ROS 1 .bag file, a '
                'rosbag2 directory or a .mcap/.db3 file)')
        try:
            reader = AnyReader([path], default_typestore=self._jazzy)
            reader.open()
        except FileNotFoundError as exc:
            raise BagReadError(f'cannot open bag {path}: {exc}') from None
        except Exception as exc:  # rosbags raises many types for corrupt files
            raise BagReadError(
                f'cannot open bag {path}: {type(exc).__name__}: {exc} (is it a complete, '
                'uncorrupted ROS 1 bag or rosbag2 recording?)') from None
        self._reader = reader
        self._conns = {}
        for conn in reader.connections:
            self._conns.setdefault(conn.topic, []).append(conn)
        return self

    def close(self) -> None:
        """Close the bag (safe to call twice)."""
        if self._reader is not None:
            try:
                self._reader.close()
            finally:
                self._reader = None

    def __enter__(self) -> 'BagReader':
        """Open the bag."""
        return self.open_bag()

    def __exit__(self, *exc: Any) -> None:
        """Close the bag."""
        self.close()

    @property
    def is_ros1(self) -> bool:
        """Return True for a ROS 1 bag."""
        self._check_open()
        return not self._reader.is2

    def _check_open(self) -> None:
        if self._reader is None:
            raise BagError(f'bag {self.path} is not open')

    # ------------------------------------------------------------------ topics
    @property
    def topics(self) -> Dict[str, TopicSummary]:
        """Return every topic of the bag by name."""
        self._check_open()
        out = {}
        for name, conns in self._conns.items():
            types = sorted({c.msgtype for c in conns})
            out[name] = TopicSummary(name, types[0] if len(types) == 1 else '|'.join(types),
                                     int(sum(c.msgcount for c in conns)))
        return out

    def describe(self) -> str:
        """Return a human-readable table of the bag's topics."""
        return _topic_table(self.topics)

    def _require(self, topic: str, allowed: Sequence[str], role: str) -> str:
        topics = self.topics
        if topic not in topics:
            # tolerate a missing leading slash
            alt = '/' + topic.lstrip('/')
            if alt in topics:
                topic = alt
            else:
                raise BagTopicError(
                    f'{role} topic {topic!r} not found in {self.path}; the bag has:\n'
                    f'{_topic_table(topics)}')
        if topics[topic].msgtype not in allowed:
            raise BagTopicError(
                f'{role} topic {topic!r} in {self.path} has type {topics[topic].msgtype}, '
                f'expected {" or ".join(allowed)}; the bag has:\n{_topic_table(topics)}')
        return topic

    def _first_encoding(self, topic: str) -> Optional[str]:
        for _, _, msg in self._iter_messages([topic], limit=1):
            return str(msg.encoding)
        return None

    def select_topics(self, image_topic: Optional[str] = None, info_topic: Optional[str] = None,
                      depth_topic: Optional[str] = None, require_info: bool = False,
                      require_depth: bool = False, use_depth: bool = True) -> CameraTopics:
        """
        Choose the colour, camera_info and depth topics, auto-picking those not given.

        Colour: an Image with a colour encoding or a CompressedImage whose name does not contain
        'depth' (raw preferred over compressed, names with 'color'/'rgb' preferred). camera_info:
        ``<namespace of the image>/camera_info`` (walking up the namespaces), else the only
        CameraInfo topic without 'depth' in its name. Depth: an Image named '*depth*' with a
        16UC1/32FC1 encoding ('aligned'/'registered' names preferred). ``use_depth=False`` never
        picks a depth topic automatically. Raises :class:`BagTopicError` listing the topics.
        """
        topics = self.topics
        if image_topic:
            image_topic = self._require(image_topic, (IMAGE, COMPRESSED_IMAGE), 'colour image')
        else:
            image_topic = self._auto_image(topics)
        image_type = topics[image_topic].msgtype

        if info_topic:
            info_topic = self._require(info_topic, (CAMERA_INFO,), 'camera_info')
        else:
            info_topic = self._auto_info(topics, image_topic)
        if info_topic is None and require_info:
            raise BagTopicError(
                f'no camera_info topic for {image_topic!r} found in {self.path} (looked for '
                f'<namespace>/camera_info); pass the camera_info topic explicitly. The bag has:\n'
                f'{_topic_table(topics)}')

        if depth_topic:
            depth_topic = self._require(depth_topic, (IMAGE,), 'depth')
            enc = self._first_encoding(depth_topic)
            if enc is not None and enc not in DEPTH_ENCODINGS:
                raise BagTopicError(
                    f'depth topic {depth_topic!r} in {self.path} has encoding {enc!r}; '
                    f'expected one of {", ".join(DEPTH_ENCODINGS)} (millimetres or metres)')
        elif use_depth or require_depth:
            depth_topic = self._auto_depth(topics, image_topic)
        if depth_topic is None and require_depth:
            raise BagTopicError(
                f'no depth topic found in {self.path} (looked for a sensor_msgs/Image topic '
                "whose name contains 'depth' with encoding 16UC1 or 32FC1); pass the depth "
                f'topic explicitly. The bag has:\n{_topic_table(topics)}')
        return CameraTopics(image_topic, image_type, info_topic, depth_topic)

    def _auto_image(self, topics: Dict[str, TopicSummary]) -> str:
        candidates = []
        for t in topics.values():
            if t.msgtype not in (IMAGE, COMPRESSED_IMAGE) or 'depth' in t.name.lower():
                continue
            if t.msgtype == IMAGE:
                enc = self._first_encoding(t.name)
                if enc is not None and enc not in conversions.SUPPORTED_COLOR_ENCODINGS:
                    continue
            name = t.name.lower()
            rank = (t.msgtype != IMAGE, not any(k in name for k in ('color', 'colour', 'rgb')),
                    'rect' in name, t.count == 0, t.name)
            candidates.append((rank, t.name))
        if not candidates:
            raise BagTopicError(
                f'no colour camera topic (sensor_msgs/Image with encoding '
                f'{"/".join(conversions.SUPPORTED_COLOR_ENCODINGS)} or '
                f'sensor_msgs/CompressedImage) found in {self.path}; the bag has:\n'
                f'{_topic_table(topics)}')
        return min(candidates)[1]

    @staticmethod
    def _auto_info(topics: Dict[str, TopicSummary], image_topic: str) -> Optional[str]:
        infos = [t.name for t in topics.values() if t.msgtype == CAMERA_INFO]
        ns = _namespace(image_topic)
        while True:
            candidate = f'{ns}/camera_info'
            if candidate in infos:
                return candidate
            if not ns:
                break
            ns = ns.rsplit('/', 1)[0]
        non_depth = [t for t in infos if 'depth' not in t.lower()]
        if len(non_depth) == 1:
            return non_depth[0]
        return None

    def _auto_depth(self, topics: Dict[str, TopicSummary], image_topic: str) -> Optional[str]:
        candidates = []
        for t in topics.values():
            name = t.name.lower()
            if t.msgtype != IMAGE or 'depth' not in name or t.name == image_topic:
                continue
            enc = self._first_encoding(t.name)
            if enc not in DEPTH_ENCODINGS:
                continue
            rank = (not any(k in name for k in ('aligned', 'registered', 'to_color')),
                    t.count == 0, t.name)
            candidates.append((rank, t.name))
        return min(candidates)[1] if candidates else None

    # ------------------------------------------------------------------ messages
    def _to_jazzy(self, msg: Any, msgtype: str) -> Any:
        """Return ``msg`` as a message of the Jazzy type (migrated from ROS 1 if needed)."""
        if self._reader.is2 and self._wire_ok(msgtype):
            return msg
        if msgtype not in self._jazzy.types:
            return msg
        from rosbags.convert.converter import migrate_message
        return migrate_message(self._reader.typestore, self._jazzy, msgtype, msgtype,
                               self._migrate_cache, msg)

    def _wire_ok(self, msgtype: str) -> bool:
        """Return True when the bag's definition of ``msgtype`` matches Jazzy's on the wire."""
        if msgtype not in self._same_wire:
            from rosbags.convert.converter import is_same_wireformat
            try:
                same = msgtype in self._jazzy.types and is_same_wireformat(
                    self._reader.typestore, self._jazzy, msgtype, msgtype)
            except Exception:
                same = False
            self._same_wire[msgtype] = bool(same)
        return self._same_wire[msgtype]

    def _iter_messages(self, topics: Sequence[str], limit: Optional[int] = None,
                       start: Optional[int] = None,
                       stop: Optional[int] = None) -> Iterator[Tuple[str, int, Any]]:
        """Yield (topic, log_time_ns, Jazzy message) for ``topics`` in log-time order."""
        for topic, log_time, msgtype, raw in self._iter_raw(topics, limit, start, stop):
            try:
                msg = self._reader.deserialize(raw, msgtype)
                msg = self._to_jazzy(msg, msgtype)
            except Exception as exc:
                raise BagReadError(
                    f'{self.path}: cannot decode a {msgtype} message on {topic!r} at log time '
                    f'{log_time} ns: {type(exc).__name__}: {exc}') from None
            yield topic, log_time, msg

    def _iter_raw(self, topics: Sequence[str], limit: Optional[int] = None,
                  start: Optional[int] = None,
                  stop: Optional[int] = None) -> Iterator[Tuple[str, int, str, bytes]]:
        self._check_open()
        conns = [c for t in topics for c in self._conns.get(t, [])]
        if not conns:
            return
        count = 0
        gen = self._reader.messages(connections=conns, start=start, stop=stop)
        while True:
            try:
                item = next(gen)
            except StopIteration:
                return
            except Exception as exc:
                raise BagReadError(
                    f'{self.path}: the bag is corrupt or truncated (reading {", ".join(topics)} '
                    f'failed after {count} messages: {type(exc).__name__}: {exc})') from None
            conn, log_time, raw = item
            yield conn.topic, int(log_time), conn.msgtype, raw
            count += 1
            if limit is not None and count >= limit:
                gen.close()
                return

    def iter_cdr(self, topics: Sequence[str]) -> Iterator[Tuple[str, str, int, bytes]]:
        """
        Yield (topic, msgtype, log_time_ns, CDR bytes of the Jazzy message) for ``topics``.

        rosbag2 messages whose definition matches Jazzy's are passed through unchanged; ROS 1
        messages (and other definitions) are migrated and serialised to CDR.
        """
        for topic, log_time, msgtype, raw in self._iter_raw(topics):
            if self._reader.is2 and self._wire_ok(msgtype):
                yield topic, msgtype, log_time, bytes(raw)
                continue
            if msgtype not in self._jazzy.types:
                raise BagReadError(
                    f'{self.path}: cannot convert {msgtype} on {topic!r} to ROS 2 (unknown type)')
            try:
                msg = self._to_jazzy(self._reader.deserialize(raw, msgtype), msgtype)
                data = self._jazzy.serialize_cdr(msg, msgtype)
            except Exception as exc:
                raise BagReadError(
                    f'{self.path}: cannot convert a {msgtype} message on {topic!r}: '
                    f'{type(exc).__name__}: {exc}') from None
            yield topic, msgtype, log_time, bytes(data)

    @staticmethod
    def _msg_stamp(msg: Any, log_time: int) -> int:
        stamp = stamp_to_ns(msg.header)
        return stamp if stamp > 0 else log_time

    # ------------------------------------------------------------------ frames
    def index(self, topics: CameraTopics, tolerance_s: float = 0.02,
              every: int = 1) -> FrameIndex:
        """
        Read all headers of the used topics once and pair colour with camera_info and depth.

        ``every`` keeps colour messages 0, k, 2k, …; ``tolerance_s`` (seconds) is the largest
        allowed |colour stamp − depth stamp|.
        """
        every = int(every)
        if every < 1:
            raise ValueError(f'every must be >= 1, got {every}')
        if not (tolerance_s >= 0):
            raise ValueError(f'tolerance must be >= 0 seconds, got {tolerance_s}')
        color, color_log, depth, depth_log, info_stamps, infos = [], [], [], [], [], []
        for topic, log_time, msg in self._iter_messages(topics.used):
            stamp = self._msg_stamp(msg, log_time)
            if topic == topics.image:
                color.append(stamp)
                color_log.append(log_time)
            if topic == topics.depth:
                depth.append(stamp)
                depth_log.append(log_time)
            if topic == topics.info:
                info_stamps.append(stamp)
                infos.append(msg)
        if not color:
            raise BagTopicError(f'colour topic {topics.image!r} in {self.path} has no messages')
        color_a = np.asarray(color, dtype=np.int64)
        depth_a = np.asarray(depth, dtype=np.int64)
        info_a = np.asarray(info_stamps, dtype=np.int64)
        selected = np.arange(0, color_a.size, every, dtype=np.int64)
        tol = int(round(float(tolerance_s) * 1e9))
        return FrameIndex(
            topics=topics, color_stamps=color_a,
            color_log_times=np.asarray(color_log, dtype=np.int64),
            depth_stamps=depth_a, depth_log_times=np.asarray(depth_log, dtype=np.int64),
            info_stamps=info_a, selected=selected,
            depth_match=_match_nearest(color_a[selected], depth_a, tol),
            info_match=_match_latest(color_a[selected], info_a), infos=infos)

    def _decode_color(self, msg: Any, image_type: str, topic: str) -> np.ndarray:
        try:
            if image_type == COMPRESSED_IMAGE:
                return conversions.compressed_msg_to_rgb(msg)
            return conversions.image_msg_to_rgb(msg)
        except ValueError as exc:
            raise BagReadError(f'{self.path}: cannot decode colour image on {topic!r}: {exc}') \
                from None

    def _decode_depth(self, msg: Any, topic: str) -> np.ndarray:
        try:
            return conversions.image_msg_to_depth(msg)
        except ValueError as exc:
            raise BagReadError(f'{self.path}: cannot decode depth image on {topic!r}: {exc}') \
                from None

    def _info_for(self, index: FrameIndex, pos: int) -> Tuple[Any, Optional[Intrinsics]]:
        j = int(index.info_match[pos])
        if j < 0:
            return None, None
        info = index.infos[j]
        try:
            intr = conversions.camera_info_to_intrinsics(info)
        except ValueError as exc:
            raise BagReadError(
                f'{self.path}: invalid camera_info on {index.topics.info!r}: {exc}') from None
        return info, intr

    def _make_frame(self, index: FrameIndex, pos: int, log_time: int, msg: Any,
                    depth_msg: Any, decode: bool) -> BagFrame:
        topics = index.topics
        i = int(index.selected[pos])
        info, intr = self._info_for(index, pos)
        frame = BagFrame(index=i, stamp_ns=int(index.color_stamps[i]), log_time_ns=log_time,
                         frame_id=str(msg.header.frame_id), image_msg=msg, info_msg=info,
                         intrinsics=intr, depth_msg=depth_msg)
        if depth_msg is not None:
            frame.depth_stamp_ns = int(index.depth_stamps[int(index.depth_match[pos])])
        if decode:
            frame.rgb = self._decode_color(msg, topics.image_type, topics.image)
            h, w = frame.rgb.shape[:2]
            if intr is not None and (intr.width, intr.height) != (w, h):
                if intr.width <= 0 or intr.height <= 0:
                    intr = Intrinsics(intr.fx, intr.fy, intr.cx, intr.cy, w, h)
                else:
                    intr = intr.scaled(w, h)
                frame.intrinsics = intr
            if depth_msg is not None:
                depth = self._decode_depth(depth_msg, topics.depth)
                if depth.shape != (h, w):
                    raise BagReadError(
                        f'{self.path}: depth on {topics.depth!r} is {depth.shape[0]}x'
                        f'{depth.shape[1]} but colour on {topics.image!r} is {h}x{w} (HxW); the '
                        'depth must be registered to the colour camera (e.g. an '
                        "'aligned_depth_to_color' topic)")
                frame.depth = depth
        return frame

    def frames(self, topics: CameraTopics, tolerance_s: float = 0.02, every: int = 1,
               decode: bool = True, index: Optional[FrameIndex] = None) -> Iterator[BagFrame]:
        """
        Yield the selected frames in bag order, with camera_info and paired depth.

        Frames without a depth within ``tolerance_s`` have ``depth=None``. ``decode=False``
        skips image decoding (``rgb``/``depth`` stay None; the messages are still attached).
        """
        if index is None:
            index = self.index(topics, tolerance_s, every)
        pos_of = {int(i): p for p, i in enumerate(index.selected)}
        need: Dict[int, int] = {}
        for j in index.depth_match[index.depth_match >= 0]:
            need[int(j)] = need.get(int(j), 0) + 1
        read_topics = [topics.image] + ([topics.depth] if need else [])
        pending: List[Tuple[int, int, Any]] = []  # (pos, log_time, colour msg)
        store: Dict[int, Any] = {}
        ci = di = 0
        for topic, log_time, msg in self._iter_messages(read_topics):
            if topic == topics.image:
                if ci in pos_of:
                    pending.append((pos_of[ci], log_time, msg))
                ci += 1
            if topics.depth is not None and topic == topics.depth:
                if di in need:
                    store[di] = msg
                di += 1
            while pending:
                pos, lt, cmsg = pending[0]
                j = int(index.depth_match[pos])
                if j >= 0 and j not in store:
                    break
                pending.pop(0)
                yield self._make_frame(index, pos, lt, cmsg, store.get(j) if j >= 0 else None,
                                       decode)
                if j >= 0:
                    need[j] -= 1
                    if need[j] == 0:
                        del store[j]
        if pending:
            pos = pending[0][0]
            raise BagReadError(
                f'{self.path}: the depth message paired with colour frame '
                f'{int(index.selected[pos])} was not found on a second read; is the bag being '
                'modified?')

    def read_frame(self, index: FrameIndex, pos: int, decode: bool = True) -> BagFrame:
        """Random access: read selected frame number ``pos`` (seeks by log time)."""
        topics = index.topics
        i = int(index.selected[pos])
        msg, log_time = self._seek(topics.image, int(index.color_log_times[i]),
                                   int(index.color_stamps[i]))
        depth_msg = None
        j = int(index.depth_match[pos])
        if j >= 0:
            depth_msg, _ = self._seek(topics.depth, int(index.depth_log_times[j]),
                                      int(index.depth_stamps[j]))
        return self._make_frame(index, pos, log_time, msg, depth_msg, decode)

    def _seek(self, topic: str, log_time: int, stamp: int) -> Tuple[Any, int]:
        for _, lt, msg in self._iter_messages([topic], start=log_time, stop=log_time + 1):
            if self._msg_stamp(msg, lt) == stamp:
                return msg, lt
        raise BagReadError(
            f'{self.path}: message on {topic!r} at log time {log_time} ns not found on re-read')


def open_bag(path: PathLike) -> BagReader:
    """Open a bag for reading (ROS 1 .bag, rosbag2 directory, .mcap or .db3 file)."""
    return BagReader(path).open_bag()


# ---------------------------------------------------------------------- writing
def output_topics(namespace: str = '/adaptive_depth') -> Dict[str, str]:
    """
    Return the node's output topic names under ``namespace`` with their message types.

    Keys 'depth', 'depth_info', 'points', 'scale' map to '<ns>/depth', '<ns>/depth/camera_info',
    '<ns>/points', '<ns>/scale'.
    """
    ns = '/' + namespace.strip('/') if namespace.strip('/') else ''
    return {'depth': f'{ns}/depth', 'depth_info': f'{ns}/depth/camera_info',
            'points': f'{ns}/points', 'scale': f'{ns}/scale'}


OUTPUT_TYPES = {'depth': IMAGE, 'depth_info': CAMERA_INFO, 'points': POINT_CLOUD2,
                'scale': VECTOR3_STAMPED}
"""Message type of each key of :func:`output_topics` (as published by adaptive_depth_node)."""


class OutputBagWriter:
    """
    Write a rosbag2 MCAP recording atomically (Jazzy message types, CDR).

    Everything goes to a hidden temporary directory next to ``path``; :meth:`commit` renames it
    to ``path``; :meth:`abort` (or leaving the ``with`` block with an exception) deletes it.
    Files written under :attr:`work_dir` (e.g. a metrics folder) move together with the bag.
    """

    def __init__(self, path: PathLike, overwrite: bool = False) -> None:
        self.path = Path(path).expanduser()
        if self.path.exists() and not overwrite:
            raise FileExistsError(
                f'output {self.path} already exists; remove it or pass --overwrite')
        if self.path.exists() and not self.path.is_dir():
            raise FileExistsError(f'output {self.path} exists and is not a directory')
        self.overwrite = overwrite
        self._tmp_parent: Optional[Path] = None
        self._writer: Any = None
        self._conns: Dict[str, Any] = {}
        self.typestore = _jazzy_typestore()
        self.counts: Dict[str, int] = {}

    @property
    def work_dir(self) -> Path:
        """Return the temporary recording directory (becomes ``path`` on commit)."""
        if self._tmp_parent is None:
            raise BagError('output bag is not open')
        return self._tmp_parent / self.path.name

    def begin(self) -> 'OutputBagWriter':
        """Create the temporary directory and open the rosbag2 MCAP writer."""
        from rosbags.rosbag2 import StoragePlugin, Writer

        parent = self.path.parent
        parent.mkdir(parents=True, exist_ok=True)
        self._tmp_parent = Path(tempfile.mkdtemp(prefix=f'.{self.path.name}.partial-',
                                                 dir=parent))
        try:
            self._writer = Writer(self.work_dir, version=ROSBAG2_VERSION,
                                  storage_plugin=StoragePlugin.MCAP)
            self._writer.open()
        except Exception:
            self._cleanup()
            raise
        return self

    def __enter__(self) -> 'OutputBagWriter':
        """Open the writer."""
        return self.begin()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        """Commit on success, abort (delete everything) on an exception."""
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def add_topic(self, topic: str, msgtype: str) -> None:
        """Declare ``topic`` with a Jazzy message type (idempotent)."""
        if topic in self._conns:
            return
        if msgtype not in self.typestore.types:
            raise BagError(f'cannot write {msgtype} on {topic!r}: not a ROS 2 Jazzy type')
        self._conns[topic] = self._writer.add_connection(topic, msgtype,
                                                         typestore=self.typestore)
        self.counts[topic] = 0

    def write_cdr(self, topic: str, msgtype: str, log_time_ns: int, data: bytes) -> None:
        """Write one CDR-serialised message (e.g. from rclpy's serialize_message)."""
        self.add_topic(topic, msgtype)
        self._writer.write(self._conns[topic], int(log_time_ns), data)
        self.counts[topic] += 1

    def write_msg(self, topic: str, msgtype: str, log_time_ns: int, msg: Any) -> None:
        """Serialise a ``rosbags`` Jazzy message to CDR and write it."""
        self.write_cdr(topic, msgtype, log_time_ns,
                       bytes(self.typestore.serialize_cdr(msg, msgtype)))

    def commit(self) -> Path:
        """Close the writer and move the recording to ``path``; return ``path``."""
        if self._writer is None:
            raise BagError('output bag is not open')
        try:
            self._writer.close()
            self._writer = None
            if self.path.exists():
                shutil.rmtree(self.path)
            os.replace(self.work_dir, self.path)
        except BaseException:
            self.abort()
            raise
        self._cleanup()
        return self.path

    def abort(self) -> None:
        """Discard everything written so far."""
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.close()
            except Exception:
                pass
        self._cleanup()

    def _cleanup(self) -> None:
        if self._tmp_parent is not None:
            shutil.rmtree(self._tmp_parent, ignore_errors=True)
            self._tmp_parent = None
