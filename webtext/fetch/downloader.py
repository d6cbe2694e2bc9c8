"""Scrapy's downloader with the per-host concurrency limit actually enforced (Scrapy 2.19 bug).

`Downloader._process_queue` hands queued requests to the network while the host's slot has free
transfer places: `while slot.queue and slot.free_transfer_slots() > 0`. A request takes its place
(`slot.transferring.add`) only when its download coroutine first runs, and under the asyncio
reactor (Scrapy's default, used here) `_schedule_coro` starts that coroutine with
`loop.create_task`, i.e. on a later turn of the event loop. Within the loop nothing is counted
yet, so the loop empties the whole queue: every request waiting for a host goes out at once, and
CONCURRENT_REQUESTS_PER_DOMAIN limits nothing.

How it showed: the requests of a crawl wait in the robots.txt middleware until the host's
robots.txt is in, up to CONCURRENT_REQUESTS (64) of them; then all 64 reached the slot queue
together and 64 connections were opened to one host at the same instant. A server with a small
listen backlog (Python's http.server: 5; many real servers behind a small accept queue) drops the
SYNs it has no room for; the kernel retransmits them after 1 s, 3 s, 7 s, ..., so a 150-URL crawl
of a 10 ms server took 10-14 s and the requests past the 5 s download timeout failed with
`timeout`. It also hammered hosts the crawler promised to be polite to, and it defeated the
HTTP/1.1 connection pool (which keeps `per_domain_concurrency` connections per host: 131 new
connections for 150 requests).

The fix is one line in a copy of the method: the request is counted as transferring when it is
handed out, before its coroutine is scheduled. `Downloader._download` adds it again (a set: no
change) and removes it when the download ends, exactly as before.
"""

from __future__ import annotations

from time import monotonic

from scrapy.core.downloader import Downloader, Slot
from scrapy.utils.asyncio import call_later
from scrapy.utils.defer import _schedule_coro


class SlotBoundDownloader(Downloader):
    """Scrapy's `Downloader`, with a slot's place taken when a request is handed out."""

    def _process_queue(self, slot: Slot) -> None:
        if slot.latercall:  # a delayed run of this method is pending: it will continue
            return
        now = monotonic()
        delay = slot.download_delay()
        if delay:
            penalty = delay - now + slot.lastseen
            if penalty > 0:
                slot.latercall = call_later(penalty, self._latercall, slot)
                return
        while slot.queue and slot.free_transfer_slots() > 0:
            slot.lastseen = now
            request, queue_dfd = slot.queue.popleft()
            slot.transferring.add(request)  # the fix: counted now, not when the task first runs
            _schedule_coro(self._wait_for_download(slot, request, queue_dfd))
            if delay:  # one request per delay: the call below schedules the next one
                self._process_queue(slot)
                break
