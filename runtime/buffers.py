"""Device buffers: numpy <-> IREE buffer views, with a transfer strategy per kind of device.

Measured on IREE 3.13 (2-core VM):

* CPU upload: `allocate_buffer_copy` (~0.5-0.8 us for f32[3]). CPU download: DLPack export, a
  zero-copy read-only view (~0.6 us); `map().asarray` costs ~1.2 us and gives a writable alias;
  a queue copy costs 3 us on local-sync and 74 us on local-task.
* Vulkan: lavapipe advertises host-pointer import but needs 4096-byte-aligned pointers *and*
  sizes; `DeviceArray.to_host` and the argument packer hand it unaligned numpy memory and fail.
  Downloads therefore import a 4096-aligned, 4096-rounded numpy block and queue-copy into it.
  On CPU-backed Vulkan (lavapipe) uploads import an aligned copy too (~4 us instead of ~140 us
  for `allocate_buffer_copy`'s staging submit); real GPUs keep `allocate_buffer_copy`.
* CUDA (H100, IREE 3.13): importing host memory per download (cuMemHostRegister) made a
  f32[3] download ~200 us; a pool of reused pinned staging buffers (`_StagedDownloads`) ~100 us.
* Teardown: freeing a buffer produced by an async driver (local-task, Vulkan) *during
  interpreter finalization* segfaults IREE 3.13. A `DeviceBuffer` alive at that point leaks its
  handle on purpose (the OS reclaims it); for the same reason local-task downloads are copies.
"""

from __future__ import annotations

import ctypes
import sys
import threading

import iree.runtime as rt
import numpy as np
from iree.runtime import _binding

try:
    import ml_dtypes
except ImportError:  # bfloat16 then is simply unsupported
    ml_dtypes = None

_ET = rt.HalElementType
HOST_ALIGNMENT = 4096

_PAIRS = [
    (np.bool_, _ET.BOOL_8),
    (np.int8, _ET.SINT_8), (np.int16, _ET.SINT_16),
    (np.int32, _ET.SINT_32), (np.int64, _ET.SINT_64),
    (np.uint8, _ET.UINT_8), (np.uint16, _ET.UINT_16),
    (np.uint32, _ET.UINT_32), (np.uint64, _ET.UINT_64),
    (np.float16, _ET.FLOAT_16), (np.float32, _ET.FLOAT_32), (np.float64, _ET.FLOAT_64),
    (np.complex64, _ET.COMPLEX_64), (np.complex128, _ET.COMPLEX_128),
]  # fmt: skip
if ml_dtypes is not None:
    _PAIRS.append((ml_dtypes.bfloat16, _ET.BFLOAT_16))

_ELEMENT_TYPE = {np.dtype(dt): et for dt, et in _PAIRS}
_DTYPE = {int(et): np.dtype(dt) for dt, et in _PAIRS}
# Signless integers (what IREE reports when no sign was recorded) read as signed.
_DTYPE.update({int(getattr(_ET, f"INT_{b}")): np.dtype(f"int{b}") for b in (8, 16, 32, 64)})
# numpy's DLPack import lacks these; export them as same-width unsigned ints and view back.
_DLPACK_CARRIER = {int(_ET.BFLOAT_16): (_ET.UINT_16, np.dtype(np.uint16))}


def element_type(dtype) -> rt.HalElementType:
    """IREE's element type for a numpy dtype (TypeError if IREE cannot hold it)."""
    try:
        return _ELEMENT_TYPE[np.dtype(dtype)]
    except KeyError:
        names = ", ".join(sorted(d.name for d in _ELEMENT_TYPE))
        raise TypeError(
            f"dtype {np.dtype(dtype)} has no IREE buffer type; use one of {names}"
        ) from None


def dtype_of(et) -> np.dtype:
    """The numpy dtype for an IREE element type."""
    try:
        return _DTYPE[int(et)]
    except KeyError:
        raise TypeError(f"IREE element type {et} has no numpy dtype here") from None


def _leak(
    obj,
    _incref=ctypes.pythonapi.Py_IncRef,
    _box=ctypes.py_object,
    _disable=_binding.disable_leak_checker,
) -> None:
    """Keep `obj` alive forever: IREE 3.13 crashes freeing async buffers during teardown.

    Runs during interpreter finalization, so it only uses what its defaults bound."""
    _incref(_box(obj))
    _disable()  # nanobind would otherwise print a leak report at exit


class DeviceBuffer:
    """An array in device memory. `.shape`, `.dtype`; `.to_host()` copies once, then caches.

    Build one from host data with `DeviceBuffer.from_host(array, device)`; executables return
    them and accept them as inputs without any host round trip.
    """

    __slots__ = ("__weakref__", "_bv", "_host", "_keep", "device")

    def __init__(self, buffer_view, device, host=None, keep=None):
        self._bv = buffer_view
        self.device = device
        self._host = host  # cached read-only host copy
        # Host memory the device buffer was imported from (or may alias): IREE's bindings do
        # not tie imported memory to the C buffer's lifetime, so its holders must.
        self._keep = keep

    @classmethod
    def from_host(cls, array, device) -> DeviceBuffer:
        """Copy `array` (anything numpy accepts) to `device`."""
        return upload(np.asarray(array), device)

    @property
    def buffer_view(self):
        """The underlying `iree.runtime.HalBufferView`."""
        return self._bv

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._bv.shape)

    @property
    def dtype(self) -> np.dtype:
        return dtype_of(self._bv.element_type)

    @property
    def ndim(self) -> int:
        return len(self._bv.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self._bv.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def to_host(self) -> np.ndarray:
        """The contents as a read-only numpy array (copied from the device on first call)."""
        host = self._host
        if host is None:
            host = self._host = download(self._bv, self.device)
        return host

    def __array__(self, dtype=None, copy=None):
        host = self.to_host()
        if dtype is not None and np.dtype(dtype) != host.dtype:
            return host.astype(dtype)
        return host.copy() if copy else host

    def __repr__(self) -> str:
        dims = ",".join(str(d) for d in self.shape)
        return f"DeviceBuffer({self.dtype.name}[{dims}], {self.device!r})"

    def __del__(self, _finalizing=sys.is_finalizing, _leak=_leak):
        if self._bv is not None and _finalizing():
            _leak(self._bv)


# ----------------------------------------------------------------------------- transfers


def upload(array: np.ndarray, device) -> DeviceBuffer:
    """Copy a numpy array to `device`."""
    uploader = _uploaders.get(device)
    if uploader is None:
        uploader = _uploaders[device] = _make_uploader(device)
    if not array.flags.c_contiguous:
        array = np.ascontiguousarray(array)
    return uploader(array)


_uploaders: dict = {}
_DEVICE_LOCAL = int(rt.MemoryType.DEVICE_LOCAL)
_DEFAULT_USAGE = int(rt.BufferUsage.DEFAULT)


def _make_uploader(device):
    """The upload routine for `device`, with what it needs looked up once."""
    if device.platform == "vulkan" and device.cpu_backed:
        return lambda array: _upload_aligned(array, element_type(array.dtype), device)
    hal = device.hal_device
    allocator = hal.allocator

    def upload_copy(array):
        et = _ELEMENT_TYPE.get(array.dtype) or element_type(array.dtype)
        bv = allocator.allocate_buffer_copy(_DEVICE_LOCAL, _DEFAULT_USAGE, hal, array, et)
        return DeviceBuffer(bv, device)

    return upload_copy


def _upload_aligned(array: np.ndarray, et, device) -> DeviceBuffer:
    """Import an aligned host copy (what lavapipe's host-pointer import requires)."""
    block = aligned_empty(array.nbytes)
    block[: array.nbytes] = array.reshape(-1).view(np.uint8)
    buffer = device.hal_device.allocator.import_host_allocation(
        block,
        memory_type=int(rt.MemoryType.HOST_LOCAL | rt.MemoryType.DEVICE_VISIBLE),
        allowed_usage=int(rt.BufferUsage.DEFAULT),
    )
    host = block[: array.nbytes].view(array.dtype).reshape(array.shape)
    host.flags.writeable = False
    return DeviceBuffer(rt.HalBufferView(buffer, array.shape, et), device, host=host, keep=block)


def download(bv, device) -> np.ndarray:
    """A read-only host array with the contents of buffer view `bv` on `device`."""
    downloader = _downloaders.get(device)
    if downloader is None:
        downloader = _downloaders[device] = _make_downloader(device)
    host = downloader(bv)
    host.flags.writeable = False
    return host


_downloaders: dict = {}


def _make_downloader(device):
    if device.platform != "cpu":
        if device.cpu_backed:
            return lambda bv: _download_dma(bv, device)
        return _StagedDownloads(device).download
    hal = device.hal_device
    if device.driver == "local-sync":
        return lambda bv: _download_dlpack(bv, hal)
    return lambda bv: _download_dlpack(bv, hal).copy()  # no device memory alive at teardown


class _Capsule:
    """What `np.from_dlpack` wants: an object with `__dlpack__` and `__dlpack_device__`."""

    __slots__ = ("capsule",)

    def __init__(self, capsule):
        self.capsule = capsule

    def __dlpack__(self, stream=None, **kwargs):
        return self.capsule

    def __dlpack_device__(self):
        return (1, 0)  # kDLCPU


def _download_dlpack(bv, hal) -> np.ndarray:
    """Zero-copy view of host-resident device memory."""
    try:
        return np.from_dlpack(_Capsule(hal.create_dlpack_capsule(bv, 1, 0)))
    except (TypeError, BufferError, ValueError, RuntimeError):
        carrier = _DLPACK_CARRIER.get(int(bv.element_type))
        if carrier is None:
            raise
    view = rt.HalBufferView(bv.get_buffer(), bv.shape, carrier[0])
    array = np.from_dlpack(_Capsule(hal.create_dlpack_capsule(view, 1, 0)))
    return array.view(dtype_of(bv.element_type))


def _download_dma(bv, device) -> np.ndarray:
    """Queue-copy into an imported, 4096-aligned host block (works on lavapipe and GPUs)."""
    dtype, shape = dtype_of(bv.element_type), tuple(bv.shape)
    source = bv.get_buffer()
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes == 0:
        return np.empty(shape, dtype)
    block = aligned_empty(max(nbytes, source.byte_length()))
    hal = device.hal_device
    target = hal.allocator.import_host_allocation(
        block,
        memory_type=int(rt.MemoryType.HOST_LOCAL | rt.MemoryType.DEVICE_VISIBLE),
        allowed_usage=int(rt.BufferUsage.TRANSFER_TARGET | rt.BufferUsage.MAPPING_PERSISTENT),
    )
    _queue_copy(hal, source, target)
    return block[:nbytes].view(dtype).reshape(shape)


_STAGING_USAGE = (int(rt.BufferUsage.TRANSFER_TARGET) | int(rt.BufferUsage.MAPPING_SCOPED)
                  | int(rt.BufferUsage.MAPPING_PERSISTENT))


class _StagedDownloads:
    """Downloads from a GPU through reused pinned host buffers, one pool per device.

    Registering host memory for each download (what `_download_dma` does) costs a CUDA
    `cuMemHostRegister` per call; a pool of IREE-allocated host buffers, one per power-of-two
    size, costs that once. The result is copied out of the staging buffer, which goes back to
    the pool.
    """

    _POOLED_BYTES = 1 << 26  # larger downloads get a staging buffer of their own

    def __init__(self, device):
        self.hal = device.hal_device
        self.free: dict[int, list] = {}  # size -> [(buffer, mapped uint8 array), ...]
        self.lock = threading.Lock()

    def download(self, bv) -> np.ndarray:
        dtype, shape = dtype_of(bv.element_type), tuple(bv.shape)
        source = bv.get_buffer()
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if nbytes == 0:
            return np.empty(shape, dtype)
        size = max(HOST_ALIGNMENT, 1 << (source.byte_length() - 1).bit_length())
        staging = self._take(size)
        try:
            _queue_copy(self.hal, source, staging[0])
            return staging[1][:nbytes].view(dtype).reshape(shape).copy()
        finally:
            if size <= self._POOLED_BYTES:
                with self.lock:
                    self.free.setdefault(size, []).append(staging)

    def _take(self, size: int):
        with self.lock:
            pool = self.free.get(size)
            if pool:
                return pool.pop()
        buffer = self.hal.allocator.allocate_buffer(
            memory_type=int(rt.MemoryType.HOST_LOCAL) | int(rt.MemoryType.DEVICE_VISIBLE),
            allowed_usage=_STAGING_USAGE,
            allocation_size=size,
        )
        return buffer, buffer.map().asarray((size,), np.dtype(np.uint8))


def _queue_copy(hal, source, target) -> None:
    # Wait on the semaphore, not on a fence: on lavapipe `HalFence.wait()` after a queue
    # operation measured ~8 ms (and slowed the next invoke as much); `HalSemaphore.wait` ~50 us.
    semaphore = hal.create_semaphore(0)
    hal.queue_copy(
        source,
        target,
        wait_semaphores=rt.HalFence(0),
        signal_semaphores=rt.HalFence.create_at(semaphore, 1),
    )
    semaphore.wait(1)


def aligned_empty(nbytes: int, alignment: int = HOST_ALIGNMENT) -> np.ndarray:
    """Uninitialised uint8 block whose address and length are multiples of `alignment`."""
    size = max(alignment, -(-nbytes // alignment) * alignment)
    raw = np.empty(size + alignment, np.uint8)
    offset = -raw.ctypes.data % alignment
    return raw[offset : offset + size]
