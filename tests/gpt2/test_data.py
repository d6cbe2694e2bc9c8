"""Token files: every window once per epoch, in a seed-fixed order, resumable; bad files named."""

from __future__ import annotations

import numpy as np
import pytest

from webtext.errors import ConfigError, InputError
from webtext.gpt2.data import TokenData, read_meta


def _folder(tmp_path, train, val, **meta):
    import json

    tmp_path.mkdir(parents=True, exist_ok=True)
    np.asarray(train, dtype=np.uint16).tofile(tmp_path / "train.bin")
    np.asarray(val, dtype=np.uint16).tofile(tmp_path / "val.bin")
    (tmp_path / "meta.json").write_text(json.dumps({"vocab_size": 1000, **meta}))
    return tmp_path


def test_every_window_once_per_epoch_and_resume(tmp_path):
    folder = _folder(tmp_path, np.arange(101) % 1000, np.arange(50))
    d = TokenData(folder, batch_size=2, block_size=10, seed=5)
    assert d.n_windows == 10
    seen = []
    for _ in range(5):
        x, y = d.next_batch()
        assert x.shape == (2, 10) and np.array_equal(y.numpy()[:, :-1], x.numpy()[:, 1:])
        seen.extend((x[:, 0] // 10).tolist())
    assert sorted(seen) == list(range(10)) and d.epoch == 0
    state = d.state_dict()
    nxt = [d.next_batch()[0] for _ in range(3)]
    assert d.epoch == 1
    again = TokenData(folder, batch_size=2, block_size=10, seed=5)
    again.load_state_dict(state)
    assert all(np.array_equal(a, b) for a, b in zip(nxt, [again.next_batch()[0] for _ in range(3)]))
    # two ranks split each global batch between them, together the same windows as one process
    r0 = TokenData(folder, batch_size=1, block_size=10, seed=5, rank=0, world_size=2)
    r1 = TokenData(folder, batch_size=1, block_size=10, seed=5, rank=1, world_size=2)
    one = TokenData(folder, batch_size=2, block_size=10, seed=5)
    for _ in range(4):
        both = sorted(r0.next_batch()[0][:, 0].tolist() + r1.next_batch()[0][:, 0].tolist())
        assert both == sorted(one.next_batch()[0][:, 0].tolist())
    with pytest.raises(ConfigError, match="batch-size"):
        TokenData(folder, batch_size=1, block_size=10, seed=5).load_state_dict(state)


def test_validation_is_fixed_and_in_order(tmp_path):
    folder = _folder(tmp_path, np.arange(101), np.arange(45))
    d = TokenData(folder, batch_size=2, block_size=10)
    batches = list(d.val_batches())
    assert len(batches) == 2 and batches[0][0][0, 0] == 0 and batches[1][0][0, 0] == 20
    assert len(list(d.val_batches(max_batches=1))) == 1


def test_bad_files_give_clear_errors(tmp_path):
    folder = _folder(tmp_path / "a", [1, 2, 3, 2000] * 30, np.arange(40))
    d = TokenData(folder, batch_size=2, block_size=10)
    with pytest.raises(InputError, match=r"train\.bin.*token id 2000 >= vocab_size 1000"):
        for _ in range(10):
            d.next_batch()
    odd = _folder(tmp_path / "b", np.arange(100), np.arange(40))
    with open(odd / "val.bin", "ab") as f:
        f.write(b"\x00")
    with pytest.raises(InputError, match=r"val\.bin.*odd"):
        TokenData(odd, batch_size=2, block_size=10)
    with pytest.raises(InputError, match="not found"):
        TokenData(tmp_path / "nowhere", batch_size=2, block_size=10)
    small = _folder(tmp_path / "c", np.arange(30), np.arange(40))
    with pytest.raises(InputError, match="smaller --batch-size"):
        TokenData(small, batch_size=4, block_size=10)
    (small / "meta.json").write_text('{"vocab_size": 70000}')
    with pytest.raises(InputError, match="uint16"):
        read_meta(small)
