"""advisor.core.memo.IdentityMemo: values by the identity of their anchors, made once; a full memo drops its oldest."""

from __future__ import annotations

from advisor.core.memo import IdentityMemo


def test_same_objects_hit_equal_but_other_objects_miss() -> None:
    memo: IdentityMemo[int] = IdentityMemo(8)
    made: list[int] = []
    a = tuple(range(1000))
    b = tuple(range(1000))  # equal to a, another object
    assert memo.get((a,), 1, lambda: made.append(1) or sum(a)) == sum(a)
    assert memo.get((a,), 1, lambda: made.append(2) or -1) == sum(a)  # hit: not made again
    assert memo.get((a,), 2, lambda: made.append(3) or 7) == 7  # another extra part: a miss
    assert memo.get((b,), 1, lambda: made.append(4) or 9) == 9  # equal but not the same object: a miss
    assert made == [1, 3, 4]


def test_an_entry_keeps_its_anchor_alive_so_its_id_is_not_reused() -> None:
    memo: IdentityMemo[int] = IdentityMemo(8)
    memo.get((tuple(range(10)),), None, lambda: 1)
    fresh = tuple(range(20))  # would be free to take the first tuple's id had the memo let it go
    assert memo.get((fresh,), None, lambda: 2) == 2


def test_a_full_memo_lets_its_oldest_entry_go() -> None:
    memo: IdentityMemo[int] = IdentityMemo(2)
    keep = [(i,) * 3 for i in range(3)]
    for i, k in enumerate(keep):
        memo.get((k,), None, lambda i=i: i)
    assert len(memo) == 2  # the first went when the third came
    assert memo.get((keep[2],), None, lambda: 99) == 2  # the newest two stay
    assert memo.get((keep[1],), None, lambda: 99) == 1
    assert memo.get((keep[0],), None, lambda: 99) == 99  # made again
