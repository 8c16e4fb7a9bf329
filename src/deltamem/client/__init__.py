"""HTTP clients for a deltamem server, with the method names of :class:`deltamem.Memory`.

``MemoryClient`` (sync, httpx.Client) and ``AsyncMemoryClient`` (httpx.AsyncClient) are two thin drivers of the same
plans in :mod:`deltamem.client.plans`; errors come back as the deltamem exceptions the server raised
(NotFoundError, ConflictError, InvalidOperation, ...) or :class:`ServerError` (401, 403, 413, 429, 5xx).

    >>> with MemoryClient("http://127.0.0.1:8080", api_key) as m:          # doctest: +SKIP
    ...     m.add(["Alice lives in Paris"], user_id="alice")
    ...     m.search("where does Alice live", user_id="alice")
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import IO, Any, Concatenate, ParamSpec, TypeVar

import httpx

from deltamem.client import plans
from deltamem.client.plans import Call, Pause, Plan, ServerError
from deltamem.core.errors import CorruptDataError

P = ParamSpec("P")
T = TypeVar("T")
_TAIL = 4096

__all__ = ["AsyncMemoryClient", "MemoryClient", "ServerError"]


def _headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}", "User-Agent": "deltamem-client"}


def _sync(fn: Callable[P, Plan[T]]) -> Callable[Concatenate[MemoryClient, P], T]:
    def method(self: MemoryClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self.run(fn(*args, **kwargs))
    method.__name__, method.__doc__ = fn.__name__, fn.__doc__
    return method


def _async(fn: Callable[P, Plan[T]]) -> Callable[Concatenate[AsyncMemoryClient, P], Coroutine[Any, Any, T]]:
    async def method(self: AsyncMemoryClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.run(fn(*args, **kwargs))
    method.__name__, method.__doc__ = fn.__name__, fn.__doc__
    return method


class MemoryClient:
    """Synchronous client. ``transport`` lets tests talk to an app in-process (``httpx.ASGITransport`` or a
    TestClient's transport)."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._http = httpx.Client(base_url=base_url, headers=_headers(api_key), timeout=timeout, transport=transport)

    def run(self, plan: Plan[T]) -> T:
        """Drive a plan to its result."""
        try:
            step = next(plan)
            while True:
                if isinstance(step, Pause):
                    time.sleep(step.seconds)
                    step = plan.send(None)
                else:
                    try:
                        response = self._send(step)
                    except httpx.TransportError as e:  # the plan decides whether to send again
                        step = plan.throw(e)
                    else:
                        step = plan.send(response)
        except StopIteration as stop:
            result: T = stop.value
            return result

    def _send(self, call: Call) -> httpx.Response:
        kwargs: dict[str, Any] = {"params": dict(call.params), "headers": dict(call.headers)}
        if call.upload is not None:
            kwargs["content"] = iter(lambda: call.upload.read(65536), b"")  # type: ignore[union-attr]
        elif call.json is not None:
            kwargs["json"] = call.json
        if call.download is None:
            return self._http.request(call.method, call.path, **kwargs)
        with self._http.stream(call.method, call.path, **kwargs) as r:
            if r.status_code >= 400:
                r.read()
                return r
            tail = b""
            try:
                for chunk in r.iter_bytes():
                    call.download.write(chunk)
                    tail = (tail + chunk)[-_TAIL:]
            except httpx.TransportError as e:
                raise _broken(e) from e
            return httpx.Response(r.status_code, headers=r.headers, content=tail)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> MemoryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    add = _sync(plans.add)
    job = _sync(plans.job)
    search = _sync(plans.search)
    get = _sync(plans.get)
    get_all = _sync(plans.get_all)
    update = _sync(plans.update)
    delete = _sync(plans.delete)
    delete_all = _sync(plans.delete_all)
    reset = _sync(plans.reset)
    history = _sync(plans.history)
    change_sets = _sync(plans.change_sets)
    revert = _sync(plans.revert)
    answer = _sync(plans.answer)
    export = _sync(plans.export)
    import_ = _sync(plans.import_)
    review_list = _sync(plans.review_list)
    review_get = _sync(plans.review_get)
    review_diff = _sync(plans.review_diff)
    review_edit = _sync(plans.review_edit)
    review_approve = _sync(plans.review_approve)
    review_reject = _sync(plans.review_reject)


class AsyncMemoryClient:
    """Asynchronous client: the same methods as :class:`MemoryClient`, awaited."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, headers=_headers(api_key), timeout=timeout,
                                       transport=transport)

    async def run(self, plan: Plan[T]) -> T:
        """Drive a plan to its result."""
        try:
            step = next(plan)
            while True:
                if isinstance(step, Pause):
                    await asyncio.sleep(step.seconds)
                    step = plan.send(None)
                else:
                    try:
                        response = await self._send(step)
                    except httpx.TransportError as e:  # the plan decides whether to send again
                        step = plan.throw(e)
                    else:
                        step = plan.send(response)
        except StopIteration as stop:
            result: T = stop.value
            return result

    async def _send(self, call: Call) -> httpx.Response:
        kwargs: dict[str, Any] = {"params": dict(call.params), "headers": dict(call.headers)}
        if call.upload is not None:
            kwargs["content"] = _chunks(call.upload)
        elif call.json is not None:
            kwargs["json"] = call.json
        if call.download is None:
            return await self._http.request(call.method, call.path, **kwargs)
        async with self._http.stream(call.method, call.path, **kwargs) as r:
            if r.status_code >= 400:
                await r.aread()
                return r
            tail = b""
            try:
                async for chunk in r.aiter_bytes():
                    call.download.write(chunk)
                    tail = (tail + chunk)[-_TAIL:]
            except httpx.TransportError as e:
                raise _broken(e) from e
            return httpx.Response(r.status_code, headers=r.headers, content=tail)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncMemoryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    add = _async(plans.add)
    job = _async(plans.job)
    search = _async(plans.search)
    get = _async(plans.get)
    get_all = _async(plans.get_all)
    update = _async(plans.update)
    delete = _async(plans.delete)
    delete_all = _async(plans.delete_all)
    reset = _async(plans.reset)
    history = _async(plans.history)
    change_sets = _async(plans.change_sets)
    revert = _async(plans.revert)
    answer = _async(plans.answer)
    export = _async(plans.export)
    import_ = _async(plans.import_)
    review_list = _async(plans.review_list)
    review_get = _async(plans.review_get)
    review_diff = _async(plans.review_diff)
    review_edit = _async(plans.review_edit)
    review_approve = _async(plans.review_approve)
    review_reject = _async(plans.review_reject)


def _broken(e: httpx.TransportError) -> CorruptDataError:
    # Part of the body is already written to the target, so this is no dropped connection to send again over.
    return CorruptDataError(f"the download broke off mid-way ({type(e).__name__}: {e}); the target is incomplete")


async def _chunks(source: IO[bytes]) -> AsyncIterator[bytes]:
    # Blocking file reads in small pieces; an upload is bounded by the network, not by the disk.
    while chunk := source.read(65536):
        yield chunk
