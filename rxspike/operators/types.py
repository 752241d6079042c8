"""What rxspike's flow operators are to a type checker: generic in the item type.

``take(3)`` has no argument that says what its items are, so typing it as
``FlowOperator[T, T]`` would leave ``T`` unsolved (``Never``) and lose the item type in
``pipe``. These subclasses instead have a generic ``__call__``: they take a ``Flowable[T]``
for any ``T`` and return the Flowable that ``T`` implies, so ``pipe`` carries the type on.
They add no behaviour; as ``FlowOperator[Any, Any]`` subclasses they still fit an
annotation such as ``StageOperator[int, int]``.

>>> import reactivex.operators as ops
>>> from rxspike import range_
>>> from rxspike.operators import batch, take
>>> range_(7).pipe(ops.map(str), take(5), batch(2)).collect()   # a Flowable[list[str]]
[['0', '1'], ['2', '3'], ['4']]
"""

from __future__ import annotations

from typing import Any, TypeVar

from ..core import Flowable
from ..core.kit import StageOperator

T = TypeVar("T")


class SameTypeStageOperator(StageOperator[Any, Any]):
    """A same-type operator that reports statistics: the buffers, ``throttle``."""

    __slots__ = ()

    def __call__(self, source: Flowable[T]) -> Flowable[T]:
        return super().__call__(source)


class BatchOperator(StageOperator[Any, Any]):
    """``batch``: a ``Flowable[T]`` in, a ``Flowable[list[T]]`` out, with statistics."""

    __slots__ = ()

    def __call__(self, source: Flowable[T]) -> Flowable[list[T]]:
        return super().__call__(source)
