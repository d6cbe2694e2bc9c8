"""webtext: rebuild OpenAI's WebText corpus end to end and train GPT-2 on it.

The stages, in the order data flows through them, each in its own module or package:

    reddit/     links from Pushshift dumps or the live API (harvest)
    fetch/      Scrapy crawler writing WARC files and a fetch log; WARC replay
    extract/    Dragnet + Newspaper, combined
    filters.py  cleaning: each filter answers keep/drop with a reason
    dedup/      exact and MinHash near-duplicate removal
    shards.py   Parquet shards, manifest and dataset card
    tokenizer/  byte-level BPE trainer, encoder, exports, corpus tokenization
    gpt2/       the model, trainer, sampling and Hugging Face interop

Nothing here imports Apache Beam or Airflow: `pipelines/` and `dags/` wrap the library.
"""

__version__ = "0.1.0"
