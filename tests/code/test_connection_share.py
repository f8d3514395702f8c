"""Workers even out their keep-alive connections: the rule each applies, and the slots they share."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

from farga.errors import FargaError
from farga.serving.connection_share import ConnectionShare, make_slots


def share_of(path: Path, held: int) -> ConnectionShare:
    return ConnectionShare(path, range(held))


def test_a_worker_over_its_share_lets_one_connection_go_and_says_so_in_its_slot(tmp_path: Path):
    make_slots(tmp_path / "slots", 2)
    mine = share_of(tmp_path / "slots", 5)
    mine.counts[1] = 3  # the other worker's slot: 8 connections, 5:3
    assert mine.over_share()
    assert list(mine.counts) == [4, 3]  # the others see the connection gone at once
    mine.held = range(4)  # 4:4 once the client has reconnected elsewhere
    assert not mine.over_share()
    mine.counts[1] = 4
    mine.held = range(5)  # 5:4 of 9: the share is 5 (rounded up), nothing to move
    assert not mine.over_share()
    mine.close()


def test_a_client_with_one_connection_is_never_asked_to_move_it(tmp_path: Path):
    make_slots(tmp_path / "slots", 2)
    mine = share_of(tmp_path / "slots", 1)
    assert not mine.over_share()
    mine.close()


def _claim(path: Path, slots: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        share = share_of(path, 0)
    except FargaError as exc:
        slots.put(str(exc))
        return
    slots.put(share.slot)
    time.sleep(60)  # holding it until the test kills this process


def test_each_living_worker_holds_a_slot_of_its_own_and_a_killed_one_frees_it(tmp_path: Path):
    path = tmp_path / "slots"
    make_slots(path, 2)
    mp = multiprocessing.get_context("fork")  # each a process of its own, as uvicorn's workers are
    slots = mp.Queue()
    first = mp.Process(target=_claim, args=(path, slots))
    first.start()
    assert slots.get(timeout=30) == 0
    second = mp.Process(target=_claim, args=(path, slots))
    second.start()
    assert slots.get(timeout=30) == 1
    third = mp.Process(target=_claim, args=(path, slots))
    third.start()
    assert "every one of the 2 connection slots" in slots.get(timeout=30)
    third.join(30)
    first.kill()  # kill -9: the kernel drops its lock
    first.join(30)
    replacement = mp.Process(target=_claim, args=(path, slots))
    replacement.start()
    assert slots.get(timeout=30) == 0
    for process in (second, replacement):
        process.kill()
        process.join(30)
