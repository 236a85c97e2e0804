"""Read the pickled metadata of other face tools as plain data, without running any of it.

DeepFaceLab stores each aligned face's metadata as ``pickle.dumps(dict)``. A pickle is a program:
loading one with :func:`pickle.loads` may call any importable function. :func:`load_plain` runs
the same opcodes with an unpickler that can build only the types DeepFaceLab's metadata uses:
dict, list, tuple, str, bytes, int, float, bool, None and numeric numpy arrays and scalars (any
pickle protocol). Every
other global (``os.system``, ``builtins.eval``, ``numpy.load`` …) is refused before it is looked up,
numpy constructors are wrapped so they cannot allocate more than the payload holds, and the result
is checked once more, type by type, each object once, with the data it expands to (shared
references counted every time) bounded by :data:`MAX_NODES` and :data:`MAX_EXPANDED_BYTES`.
"""

from __future__ import annotations

import importlib
import io
import pickle
import pickletools
import struct
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

#: Largest payload accepted (a JPEG APP15 segment holds at most 64 KiB; a .pak header more).
MAX_PICKLE_BYTES = 64 << 20
#: numpy dtype kinds accepted: bool, signed and unsigned integers, floats, complex.
_NUMERIC_KINDS = frozenset("biufc")
_MAX_DEPTH = 32
_MAX_MEMO = 1 << 20
_MEMO_OPCODES = frozenset({"PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET", "LONG_BINGET"})
#: Most values (containers, strings, numbers, arrays) the data may expand to, shared references
#: counted each time they occur; DeepFaceLab's metadata holds a few hundred.
MAX_NODES = 1 << 20
#: Most bytes (strings, bytes, array data) the data may expand to, shared references counted again.
MAX_EXPANDED_BYTES = 4 * MAX_PICKLE_BYTES


class _ArrayType:
    """Stands in for ``numpy.ndarray`` inside the pickle: usable only as ``_reconstruct``'s argument."""


def _numpy_attr(name: str) -> Callable[..., Any]:
    """A function of numpy's private multiarray module, in numpy 2 (``_core``) or 1 (``core``)."""
    module_name, attr = name.rsplit(".", 1)
    for prefix in ("numpy._core.", "numpy.core."):
        try:
            return getattr(importlib.import_module(prefix + module_name), attr)
        except (ImportError, AttributeError):
            continue
    raise pickle.UnpicklingError(f"this numpy has no {name}")


def _numeric_dtype(value: Any) -> np.dtype:
    dtype = np.dtype(value) if not isinstance(value, np.dtype) else value
    if dtype.kind not in _NUMERIC_KINDS or dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise pickle.UnpicklingError(f"refusing a non-numeric numpy dtype {dtype}")
    return dtype


def _dtype(name: Any, align: Any = False, copy: Any = True) -> np.dtype:
    """``numpy.dtype(name, …)`` for numeric type codes only ('f4', 'u1', 'i8' …)."""
    if not isinstance(name, str) or len(name) > 8:
        raise pickle.UnpicklingError("refusing a numpy dtype that is not a short type code")
    return _numeric_dtype(name)


def _reconstruct(subtype: Any, shape: Any, typecode: Any) -> np.ndarray:
    """numpy's array pickling starts from an empty array; its data comes later, via ``__setstate__``."""
    if subtype is not _ArrayType or shape != (0,):
        raise pickle.UnpicklingError("refusing an unusual numpy array construction")
    return _numpy_attr("multiarray._reconstruct")(np.ndarray, (0,), typecode)


def _scalar(dtype: Any, data: Any = b"") -> Any:
    """A numpy scalar from its bytes (numeric types, exact size)."""
    dtype = _numeric_dtype(dtype)
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise pickle.UnpicklingError("refusing a numpy scalar whose data does not match its type")
    return np.frombuffer(data, dtype=dtype)[0]


def _frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    """Protocol-5 numpy arrays: a numeric array over bytes of exactly the right size."""
    dtype = _numeric_dtype(dtype)
    if not isinstance(buffer, (bytes, bytearray)) or not isinstance(shape, tuple):
        raise pickle.UnpicklingError("refusing an unusual numpy buffer")
    if int(np.prod(shape, dtype=np.int64)) * dtype.itemsize != len(buffer):
        raise pickle.UnpicklingError("numpy buffer size does not match its shape")
    return np.frombuffer(bytes(buffer), dtype=dtype).reshape(shape, order="F" if order == "F" else "C")


def _latin1(text: Any, encoding: Any = "latin1") -> bytes:
    """Protocol 2 writes bytes as ``_codecs.encode(str, "latin1")``: only that form is accepted."""
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError("refusing a codec call other than latin1 bytes")
    return text.encode("latin1")


_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): _ArrayType, ("numpy", "dtype"): _dtype, ("_codecs", "encode"): _latin1,
}
for _module in ("numpy.core", "numpy._core"):
    _ALLOWED[(f"{_module}.multiarray", "_reconstruct")] = _reconstruct
    _ALLOWED[(f"{_module}.multiarray", "scalar")] = _scalar
    _ALLOWED[(f"{_module}.numeric", "_frombuffer")] = _frombuffer


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only plain data is read)") from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refusing a persistent reference")


class _Checker:
    """Checks an unpickled value once per object and bounds the data it expands to.

    A pickle can share one object many times (``MEMOIZE``/``GET``), so a few KB can describe a
    tree of 2**100 nodes ("billion laughs"). Each object is checked once (its result memoised by
    identity) but every reference counts its whole subtree against :data:`MAX_NODES` and
    :data:`MAX_EXPANDED_BYTES`, so neither this check nor any later walk of the result can blow up.
    """

    def __init__(self) -> None:
        self.nodes = 0
        self.bytes = 0
        self._done: dict[int, tuple[Any, int, int]] = {}

    def _charge(self, nodes: int, size: int) -> None:
        self.nodes += nodes
        self.bytes += size
        if self.nodes > MAX_NODES:
            raise pickle.UnpicklingError(f"data expands to over {MAX_NODES} values")
        if self.bytes > MAX_EXPANDED_BYTES:
            raise pickle.UnpicklingError(f"data expands to over {MAX_EXPANDED_BYTES} bytes")

    def check(self, value: Any, depth: int = 0) -> Any:
        """Return ``value`` if it is plain data (numpy scalars become Python numbers); raise otherwise."""
        if depth > _MAX_DEPTH:
            raise pickle.UnpicklingError("data nested too deeply")
        if value is None or isinstance(value, (bool, int, float)):
            self._charge(1, 8)
            return value
        if isinstance(value, (str, bytes)):
            self._charge(1, len(value))
            return value
        if isinstance(value, np.generic):
            _numeric_dtype(value.dtype)
            self._charge(1, value.itemsize)
            return value.item()
        known = self._done.get(id(value))
        if known is not None:
            self._charge(known[1], known[2])
            return known[0]
        nodes, size = self.nodes, self.bytes
        result = self._container(value, depth)
        self._done[id(value)] = (result, self.nodes - nodes, self.bytes - size)
        return result

    def _container(self, value: Any, depth: int) -> Any:
        if isinstance(value, np.ndarray):
            if type(value) is not np.ndarray:
                raise pickle.UnpicklingError("refusing a numpy array subclass")
            _numeric_dtype(value.dtype)
            self._charge(1, value.nbytes)
            return value
        if isinstance(value, (list, tuple)):
            self._charge(1, 8)
            return type(value)(self.check(item, depth + 1) for item in value)
        if isinstance(value, dict):
            self._charge(1, 8)
            return {self.check(key, depth + 1): self.check(item, depth + 1) for key, item in value.items()}
        raise pickle.UnpicklingError(f"refusing a {type(value).__name__} object")


def _check_opcodes(data: bytes) -> None:
    """Walk the opcodes without running them; refuse memo indices beyond the pickle's own opcode count.

    CPython's unpickler grows its memo table to twice the largest index put (``LONG_BINPUT
    1300000000`` alone asks for 20 GB), and :mod:`pickletools` also checks every declared length
    against the bytes present.
    """
    limit = min(len(data), _MAX_MEMO)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # escape_decode of a garbage STRING argument
            for opcode, argument, _pos in pickletools.genops(data):
                if opcode.name in _MEMO_OPCODES and isinstance(argument, int) and not 0 <= argument < limit:
                    raise ValueError(f"refusing memo index {argument} (a pickle of {len(data)} bytes has fewer "
                                     "values)")
    except ValueError as error:
        raise ValueError(" ".join(str(error).split())[:200]) from None
    except (struct.error, EOFError, OverflowError, IndexError, KeyError, TypeError, MemoryError) as error:
        raise ValueError(f"not a readable pickle ({type(error).__name__})") from None


def load_plain(data: bytes) -> Any:
    """Unpickle ``data`` allowing only plain types (see the module docstring).

    Raises:
        ValueError: the payload is too large, is not a pickle, or uses anything but plain data
            (the message says what was refused). Nothing in it has run.
    """
    if len(data) > MAX_PICKLE_BYTES:
        raise ValueError(f"pickle of {len(data)} bytes is over the {MAX_PICKLE_BYTES} byte limit")
    _check_opcodes(data)
    try:
        return _Checker().check(_PlainUnpickler(io.BytesIO(data)).load())
    except pickle.UnpicklingError as error:
        raise ValueError(str(error)) from None
    except (EOFError, TypeError, ValueError, AttributeError, IndexError, KeyError, MemoryError,
            OverflowError, RecursionError, UnicodeDecodeError) as error:
        raise ValueError(f"not a readable pickle ({type(error).__name__}: {error})") from None
