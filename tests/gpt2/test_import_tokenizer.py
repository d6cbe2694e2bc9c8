"""import-hf brings the folder's tokenizer along (issue 15, point 4), or says in one line that it did not."""

from __future__ import annotations

import json
import shutil

import pytest

from webtext.cli import main as cli_main


@pytest.fixture(scope="module")
def transformers5_folder(tmp_path_factory, gpt2_tokenizer_dir):
    """A GPT-2 folder as transformers 5 saves it: model files plus tokenizer.json only (no vocab.json/merges.txt)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("hf5")
    tok = Tokenizer(models.BPE.from_file(str(gpt2_tokenizer_dir / "encoder.json"), str(gpt2_tokenizer_dir / "vocab.bpe")))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    fast.save_pretrained(folder)
    GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, n_positions=64)).save_pretrained(folder)
    assert not (folder / "vocab.json").exists() and (folder / "tokenizer.json").exists()
    return folder


def test_tokenizer_json_only_folder_is_imported_and_sample_runs(transformers5_folder, gpt2_tokenizer_dir, tmp_path, capsys):
    from webtext.gpt2.sample import load_tokenizer

    out = tmp_path / "imported"
    assert cli_main(["import-hf", "--src", str(transformers5_folder), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "tokenizer imported from tokenizer.json" in said
    # the derived files are GPT-2's own: same vocabulary, same merges, same ids
    assert json.loads((out / "tokenizer" / "encoder.json").read_text()) == json.loads((gpt2_tokenizer_dir / "encoder.json").read_text())
    ours = (out / "tokenizer" / "vocab.bpe").read_text().splitlines()[1:]
    theirs = [l for l in (gpt2_tokenizer_dir / "vocab.bpe").read_text().splitlines()[1:] if l]
    assert ours == theirs
    assert load_tokenizer(out / "tokenizer").encode_ordinary("hello world") == [31373, 995]
    # sample finds it without --tokenizer (it exited 2 before)
    assert cli_main(["sample", "--checkpoint", str(out / "ckpt.pt"), "--prompt", "hello", "--max-new-tokens", "3", "--device", "cpu"]) == 0


def test_vocab_and_merges_folder_is_imported(transformers5_folder, gpt2_tokenizer_dir, tmp_path, capsys):
    src = tmp_path / "src"
    shutil.copytree(transformers5_folder, src)
    (src / "tokenizer.json").unlink()
    shutil.copyfile(gpt2_tokenizer_dir / "encoder.json", src / "vocab.json")
    shutil.copyfile(gpt2_tokenizer_dir / "vocab.bpe", src / "merges.txt")
    assert cli_main(["import-hf", "--src", str(src), "--out", str(tmp_path / "out")]) == 0
    assert "tokenizer imported from vocab.json + merges.txt" in capsys.readouterr().out
    assert (tmp_path / "out" / "tokenizer" / "vocab.bpe").read_bytes() == (gpt2_tokenizer_dir / "vocab.bpe").read_bytes()


def test_no_tokenizer_is_said_clearly(transformers5_folder, tmp_path, capsys):
    src = tmp_path / "src"
    shutil.copytree(transformers5_folder, src)
    (src / "tokenizer.json").unlink()
    assert cli_main(["import-hf", "--src", str(src), "--out", str(tmp_path / "out")]) == 0
    said = capsys.readouterr().out
    assert "no tokenizer imported" in said and "--tokenizer" in said
    assert not (tmp_path / "out" / "tokenizer").exists()


def test_a_non_byte_level_tokenizer_json_is_refused_with_the_reason(transformers5_folder, tmp_path, capsys):
    src = tmp_path / "src"
    shutil.copytree(transformers5_folder, src)
    data = json.loads((src / "tokenizer.json").read_text())
    data["pre_tokenizer"] = {"type": "Whitespace"}
    (src / "tokenizer.json").write_text(json.dumps(data))
    assert cli_main(["import-hf", "--src", str(src), "--out", str(tmp_path / "out")]) == 0
    said = capsys.readouterr().out
    assert "no tokenizer imported" in said and "ByteLevel" in said
