"""Dragnet 2.0.4 on today's numpy and scikit-learn: the patches, the trained model, its training.

Dragnet (Peters & Lecocq, 2013) splits a page into text *blocks* and classifies each block as
content or boilerplate with a scikit-learn model over shallow features (text and link density,
Kohlschuetter; tag/text ratios, Weninger; readability scores). Version 2.0.4 is the last release
and it was written for numpy 1.x and scikit-learn < 0.21, so it needs patching. **This module is
the one place where Dragnet is patched**; nothing else in webtext imports `dragnet` directly.

The patches (each replaces exactly what breaks; nothing in numpy or scikit-learn is changed):

1. `from sklearn.externals import joblib` (removed in scikit-learn 0.23): the standalone `joblib`
   is registered as `sys.modules["sklearn.externals.joblib"]` before dragnet is imported.
2. `data_processing._parse_content_or_comments_blocks` uses `np.int` (removed in numpy 1.24):
   replaced by a copy using the builtin `int`.
3. `Extractor.fit` and `Extractor.get_html_labels_weights` build *ragged* `np.array`s of
   per-page arrays (an error since numpy 1.24) and a fixed-width unicode array of whole HTML
   pages (gigabytes for a few pages): replaced by copies that use object arrays and lists.
4. `Extractor.predict` tests `isinstance(x, np.unicode_)` (removed in numpy 2.0): `np.str_`.
5. `Extractor.extract` joins block texts with `b"\\n"`, but the compiled blockifier now returns
   `str` texts: joined with `"\\n"`.

The patches are applied to Dragnet's classes and modules, so a model pickled here unpickles as a
plain `dragnet.extractor.Extractor`.

Three more replace slow plumbing with the same computation (same predictions, tested on both
dev splits): the forest's trees in a plain loop (`_fast_forest`), the three feature sets stacked
without joblib (`_fast_features`), and the block casts between `str` and `bytes` done one
comprehension per field (`_patch_casts`).

**The shipped models do not load** (pickled with scikit-learn 0.18/0.19, whose module paths no
longer exist), so webtext trains its own: `train()` (CLI: `webtext extract train-dragnet`) uses
Dragnet's own training code on the benchmark's `train` split (81 pages of
`../shared/data/extraction`, never `dev`):

* the gold article text of each page is written in Dragnet's training layout, `HTML/<id>.html`
  and `Corrected/<id>.html.corrected.txt` (content only, no comments section), in a temporary
  folder;
* `data_processing.extract_all_gold_standard_data` aligns the gold tokens with each block's tokens
  (longest common subsequence) and writes `block_corrected/<id>.block_corrected.txt`;
* `data_processing.prepare_all_data` turns those into per-block labels (content if more than 10%
  of the block's tokens are in the gold text) and weights (tokens per block);
* `Extractor.fit` fits the features and an `ExtraTreesClassifier` with a fixed `random_state`;
  `model_training.evaluate_model_predictions` reports block-level figures on the training pages.

The model is written with joblib next to a JSON sidecar (`MODEL_NAME`, `MODEL_META`) inside the
package, so extraction needs no training at install time. Same inputs and seed, same model.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODELS_DIR = Path(__file__).resolve().parent / "models"
MODEL_NAME = "dragnet_content.joblib.gz"
MODEL_META = "dragnet_content.json"
DEFAULT_SEED = 1234
# Tree settings: enough trees for stable probabilities, leaves of >= 2 samples so that the file
# stays small (a few MB) without measurably losing accuracy on the training pages.
N_ESTIMATORS = 60
MIN_SAMPLES_LEAF = 2

_PATCHED = False


def _patch() -> None:
    """Make Dragnet 2.0.4 import and train on numpy 2 / scikit-learn 1.x. Idempotent."""
    global _PATCHED
    if _PATCHED:
        return
    import joblib

    # 1. sklearn.externals.joblib is gone; dragnet.util and dragnet.model_training import it.
    sys.modules.setdefault("sklearn.externals.joblib", joblib)

    import dragnet  # noqa: F401  (imports dragnet.util, dragnet.extractor)
    import dragnet.data_processing as dp
    from dragnet.compat import str_cast
    from dragnet.extractor import Extractor

    # 2. np.int
    def _parse_content_or_comments_blocks(blocks, block_pct_tokens_thresh):
        is_above_thresh = (np.array([ele[0] for ele in blocks]) > block_pct_tokens_thresh).astype(int)
        token_counts = np.array([ele[1] for ele in blocks], dtype=int)
        all_tokens = [tok for ele in blocks if ele[1] > 0 for tok in ele[2]]
        return (is_above_thresh, token_counts, all_tokens)

    dp._parse_content_or_comments_blocks = _parse_content_or_comments_blocks

    # 3. ragged arrays in fit / get_html_labels_weights
    def _objects(items) -> np.ndarray:
        arr = np.empty(len(items), dtype=object)
        for i, item in enumerate(items):
            arr[i] = item
        return arr

    def fit(self, documents, labels, weights=None):
        block_groups = [self.blockifier.blockify(doc) for doc in documents]
        mask = [self._has_enough_blocks(blocks) for blocks in block_groups]
        block_groups = [b for b, keep in zip(block_groups, mask) if keep]
        labels = np.concatenate([lab for lab, keep in zip(labels, mask) if keep])
        features_mat = np.concatenate([self.features.fit_transform(blocks) for blocks in block_groups])
        if weights is None:
            self.model.fit(features_mat, labels)
        else:
            weights = np.concatenate([w for w, keep in zip(weights, mask) if keep])
            self.model.fit(features_mat, labels, sample_weight=weights)
        return self

    def get_html_labels_weights(self, data):
        all_html, all_labels, all_weights = [], [], []
        for html, content, comments in data:
            all_html.append(html)
            labels, weights = self._get_labels_and_weights(content, comments)
            all_labels.append(labels)
            all_weights.append(weights)
        return _objects(all_html), _objects(all_labels), _objects(all_weights)

    # 4. np.unicode_
    def predict(self, documents, **kwargs):
        if isinstance(documents, (str, bytes, np.str_)):
            return self._predict_one(documents, **kwargs)
        return np.concatenate([self._predict_one(doc, **kwargs) for doc in documents])

    # 5. bytes join over str block texts
    def extract(self, html, encoding=None, as_blocks=False):
        preds, blocks = self.predict(html, encoding=encoding, return_blocks=True)
        if as_blocks:
            return [blocks[i] for i in np.flatnonzero(preds)]
        return "\n".join(str_cast(blocks[i].text) for i in np.flatnonzero(preds))

    Extractor.fit = fit
    Extractor.get_html_labels_weights = get_html_labels_weights
    Extractor.predict = predict
    Extractor.extract = extract
    _patch_casts()
    _PATCHED = True


# ---- extraction -----------------------------------------------------------------------------

_MODEL = None


def load_model(path: str | os.PathLike | None = None):
    """The trained content model (a `dragnet.extractor.Extractor`); cached when `path` is None.

    Loading is strict: any warning while unpickling (a scikit-learn version mismatch, above all)
    is raised as an error, because a model read by another scikit-learn may silently mispredict.
    Retrain with `webtext extract train-dragnet` after upgrading scikit-learn.
    """
    global _MODEL
    if path is None and _MODEL is not None:
        return _MODEL
    _patch()
    import joblib

    from webtext.errors import ConfigError

    model_path = Path(path) if path is not None else MODELS_DIR / MODEL_NAME
    if not model_path.exists():
        raise ConfigError(f"Dragnet model not found: {model_path}; run `webtext extract train-dragnet`")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            model = joblib.load(model_path)
        except Exception as exc:  # a version mismatch warning, or an unreadable file
            raise ConfigError(
                f"cannot load Dragnet model {model_path}: {exc}; retrain with `webtext extract train-dragnet`"
            ) from None
    _fast_forest(model.model)
    _fast_features(model.features)
    if path is None:
        _MODEL = model
    return model


def _fast_forest(forest) -> None:
    """Predict with the forest's trees in a plain loop. scikit-learn's `predict_proba` dispatches
    each tree through joblib, even with one job, which cost more than the trees themselves on a
    page's few hundred blocks. Same sum in the same order, divided the same way: same output."""
    if not hasattr(forest, "estimators_") or getattr(forest, "_webtext_fast", False):
        return

    def predict_proba(X):
        X = np.ascontiguousarray(X, dtype=np.float32)
        proba = forest.estimators_[0].predict_proba(X, check_input=False)
        for tree in forest.estimators_[1:]:
            proba += tree.predict_proba(X, check_input=False)
        return proba / len(forest.estimators_)

    def predict(X):
        return forest.classes_.take(np.argmax(predict_proba(X), axis=1), axis=0)

    forest.predict_proba, forest.predict = predict_proba, predict
    forest._webtext_fast = True


def _fast_features(union) -> None:
    """Compute the three feature sets in a plain loop. scikit-learn's `FeatureUnion.transform`
    dispatches each transformer through joblib (one job) and then stacks the arrays; with no
    weights the result is the same stack of the same arrays, in the same order."""
    if getattr(union, "_webtext_fast", False) or getattr(union, "transformer_weights", None) is not None:
        return
    steps = [t for _, t in union.transformer_list]
    if any(isinstance(t, str) for t in steps):  # "drop" / "passthrough": leave scikit-learn's path
        return

    def transform(blocks):
        return np.hstack([t.transform(blocks) for t in steps])

    union.transform = transform
    union._webtext_fast = True


def _patch_casts() -> None:
    """Dragnet's compiled blockifier hands its blocks to `compat.str_block_list_cast`, and two of
    its compiled feature makers to `compat.bytes_block_list_cast`, which cast each block's text,
    link tokens, CSS and feature dicts one value at a time through several Python calls. The same
    casts (same values, same dict orders), one comprehension per field, in the modules that
    call them. Calls with other options go to Dragnet's own functions."""
    import dragnet.blocks
    import dragnet.compat
    import dragnet.features._readability
    import dragnet.features._weninger

    def caster(src: type, conv, fallback):
        # conv: bytes.decode or str.encode, applied to every value of type src
        def cast(blocks, encoding="utf-8", **kwargs):
            if kwargs:
                return fallback(blocks, encoding=encoding, **kwargs)
            for b in blocks:
                t = b.text
                b.text = conv(t, encoding) if isinstance(t, src) else t
                b.link_tokens = [conv(x, encoding) if isinstance(x, src) else x for x in b.link_tokens]
                b.css = {(conv(k, encoding) if isinstance(k, src) else k): (conv(v, encoding) if isinstance(v, src) else v)
                         for k, v in b.css.items()}
                b.features = {(conv(k, encoding) if isinstance(k, src) else k): (conv(v, encoding) if isinstance(v, src) else v)
                              for k, v in b.features.items()}
            return list(blocks)

        return cast

    str_block_list_cast = caster(bytes, bytes.decode, dragnet.compat.str_block_list_cast)
    bytes_block_list_cast = caster(str, str.encode, dragnet.compat.bytes_block_list_cast)
    dragnet.blocks.str_block_list_cast = str_block_list_cast
    dragnet.features._weninger.bytes_block_list_cast = bytes_block_list_cast
    dragnet.features._readability.bytes_block_list_cast = bytes_block_list_cast


def extract_blocks(html: str, model=None) -> list[str]:
    """The texts of the blocks the model classifies as content, in page order.

    Raises `dragnet.blocks.BlockifyError` when lxml cannot make a tree of the page; a page with
    fewer blocks than features need yields no content blocks.
    """
    model = model or load_model()
    # the page is already decoded: tell lxml so, or a <meta charset> would make it decode twice
    preds, blocks = model.predict(html, encoding="utf-8", return_blocks=True)
    out = []
    for i in np.flatnonzero(preds):
        text = blocks[i].text
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        text = text.strip()
        if text:
            out.append(text)
    return out


def extract_text(html: str, model=None) -> str:
    """Dragnet's content text: content blocks joined by newlines."""
    return "\n".join(extract_blocks(html, model))


def blockify_error():
    """Dragnet's BlockifyError class (for callers that catch it without importing dragnet)."""
    _patch()
    from dragnet.blocks import BlockifyError

    return BlockifyError


# ---- training -------------------------------------------------------------------------------


@dataclass
class TrainResult:
    model_path: Path
    meta: dict


def write_training_layout(pages, data_dir: Path) -> None:
    """Write (id, html, gold text) pages in Dragnet's training layout under `data_dir`.

    `HTML/<id>.html` holds the page and `Corrected/<id>.html.corrected.txt` the gold content. The
    gold text has no comments section, so Dragnet's comments delimiter is never written and every
    page's comments labels are empty.
    """
    from dragnet.data_processing import (
        GOLD_STANDARD_BLOCKS_DIRNAME,
        GOLD_STANDARD_DIRNAME,
        GOLD_STANDARD_EXT,
        RAW_HTML_DIRNAME,
        RAW_HTML_EXT,
    )

    (data_dir / RAW_HTML_DIRNAME).mkdir(parents=True, exist_ok=True)
    (data_dir / GOLD_STANDARD_DIRNAME).mkdir(parents=True, exist_ok=True)
    (data_dir / GOLD_STANDARD_BLOCKS_DIRNAME).mkdir(parents=True, exist_ok=True)  # Dragnet writes here
    for page_id, html, gold in pages:
        (data_dir / RAW_HTML_DIRNAME / f"{page_id}{RAW_HTML_EXT}").write_text(html, encoding="utf-8")
        (data_dir / GOLD_STANDARD_DIRNAME / f"{page_id}{GOLD_STANDARD_EXT}").write_text(gold, encoding="utf-8")


def train(
    gold_json: str | os.PathLike,
    html_dir: str | os.PathLike,
    ids: list[str],
    out_dir: str | os.PathLike | None = None,
    *,
    seed: int = DEFAULT_SEED,
) -> TrainResult:
    """Train Dragnet's content model on the pages `ids` and write it to `out_dir` (the package's
    models folder by default). Returns the model path and the metadata written beside it."""
    _patch()
    import hashlib

    import joblib
    import sklearn
    from dragnet import data_processing as dp
    from dragnet.extractor import Extractor
    from dragnet.model_training import evaluate_model_predictions
    from sklearn.ensemble import ExtraTreesClassifier

    from webtext.extract.evaluate import load_gold
    from webtext.report import write_json_atomic

    pages = load_gold(gold_json, html_dir, sorted(ids))
    out_dir = Path(out_dir) if out_dir is not None else MODELS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="webtext-dragnet-") as tmp:
        data_dir = Path(tmp)
        write_training_layout([(p.id, p.read_html(), p.text) for p in pages], data_dir)
        # Dragnet prints a progress line per 100 files on stdout; keep stdout for results.
        with contextlib.redirect_stdout(io.StringIO()):
            dp.extract_all_gold_standard_data(str(data_dir), nprocesses=1, overwrite=True)
        data = dp.prepare_all_data(str(data_dir))
    model = ExtraTreesClassifier(
        n_estimators=N_ESTIMATORS, min_samples_leaf=MIN_SAMPLES_LEAF, random_state=seed, n_jobs=1
    )
    extractor = Extractor(to_extract="content", model=model)
    html, labels, weights = extractor.get_html_labels_weights(data)
    logging.getLogger().disabled, was = True, logging.getLogger().disabled  # "too few blocks" noise
    try:
        extractor.fit(html, labels, weights=weights)
        preds = [extractor.predict(doc) for doc in html]
    finally:
        logging.getLogger().disabled = was
    block_eval = evaluate_model_predictions(np.concatenate(list(labels)), np.concatenate(preds), np.concatenate(list(weights)))

    model_path = out_dir / MODEL_NAME
    tmp_path = out_dir / f".{MODEL_NAME}.tmp-{os.getpid()}"
    joblib.dump(extractor, tmp_path, compress=("gzip", 6))
    os.replace(tmp_path, model_path)
    meta = {
        "model": MODEL_NAME,
        "bytes": model_path.stat().st_size,
        "sha256": hashlib.sha256(model_path.read_bytes()).hexdigest(),
        "trained_on": {"pages": len(pages), "ids_sha1": hashlib.sha1("\n".join(p.id for p in pages).encode()).hexdigest()},
        "seed": seed,
        "classifier": {"type": "ExtraTreesClassifier", "n_estimators": N_ESTIMATORS, "min_samples_leaf": MIN_SAMPLES_LEAF},
        "features": ["kohlschuetter", "weninger", "readability"],
        "block_level_on_training_pages": {k: round(float(v), 4) for k, v in block_eval.items()},
        "versions": {"scikit-learn": sklearn.__version__, "numpy": np.__version__, "joblib": joblib.__version__, "dragnet": "2.0.4"},
    }
    write_json_atomic(out_dir / MODEL_META, meta)
    global _MODEL
    if out_dir == MODELS_DIR:
        _MODEL = None  # the next load_model() reads the new file
    return TrainResult(model_path, meta)
