"""Updates and how a bot receives them: the queue `getUpdates` serves (offsets confirm, a second
long poll ends the first with 409 Conflict), webhooks, and the callback queries that must be
answered."""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from typing import Any

from tests.support.botapi.rules import ERR_CONFLICT_POLL, ERR_CONFLICT_WEBHOOK, ApiError, as_int
from tests.support.botapi.state import FakeState


class UpdateMethods(FakeState):
    """getUpdates, the webhook methods, and the updates a test queues for the bot."""

    # ---------------------------------------------------------------- webhooks

    def _set_webhook(self, params: dict[str, Any]) -> bool:
        url = params.get("url")
        self.webhook_url = url if isinstance(url, str) and url else None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self._interrupts += 1  # a long poll in progress ends
        self._cond.notify_all()
        return True

    def _delete_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _get_webhook_info(self) -> dict[str, Any]:
        return {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    # ---------------------------------------------------------------- updates / polling

    def enqueue_update(self, update: Mapping[str, Any]) -> int:
        """Queue an update for getUpdates; assigns ``update_id`` if missing. Returns the id."""
        with self._cond:
            data = copy.deepcopy(dict(update))
            update_id = data.get("update_id")
            if update_id is None:
                update_id = self._last_update_id + 1
                data["update_id"] = update_id
            elif int(update_id) <= self._last_update_id:
                raise ValueError(
                    f"update_id {update_id} is not greater than the last enqueued update id "
                    f"{self._last_update_id} (Telegram's update ids increase monotonically)"
                )
            self._last_update_id = int(update_id)
            self._updates.append(data)
            for key in ("message", "edited_message"):
                message = data.get(key)
                if isinstance(message, dict) and "message_id" in message and "chat" in message:
                    self.record_user_message(message)
            self._cond.notify_all()
            return int(update_id)

    @property
    def last_update_id(self) -> int:
        with self._lock:
            return self._last_update_id

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed (delivered or not)."""
        with self._lock:
            return copy.deepcopy(self._updates)

    def has_pending_updates(self, offset: int = 0) -> bool:
        with self._lock:
            if offset > 0:
                return any(u["update_id"] >= offset for u in self._updates)
            return bool(self._updates)

    def delivery_count(self, update_id: int) -> int:
        """How many getUpdates responses contained this update (>1 means re-delivery)."""
        with self._lock:
            return self._deliveries.get(update_id, 0)

    def is_confirmed(self, update_id: int) -> bool:
        """Whether a later getUpdates offset confirmed (and so dropped) the update."""
        with self._lock:
            return update_id in self._confirmed

    @property
    def polls_waiting(self) -> int:
        """Number of getUpdates long polls currently blocked waiting for updates."""
        with self._lock:
            return self._waiting_polls

    def _track_waiting_poll(self, delta: int) -> None:
        with self._lock:
            self._waiting_polls += delta

    def interrupt_polls(self) -> None:
        """Make all waiting getUpdates long polls return an empty result now."""
        with self._cond:
            self._interrupts += 1
            self._cond.notify_all()

    def _apply_offset(self, offset: int) -> None:
        if offset > 0:
            keep = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            keep = self._updates[offset:]
        else:
            return
        kept_ids = {u["update_id"] for u in keep}
        self._confirmed.update(
            u["update_id"] for u in self._updates if u["update_id"] not in kept_ids
        )
        self._updates = keep

    def _get_updates(self, params: dict[str, Any], block: bool) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise ApiError(ERR_CONFLICT_WEBHOOK, code=409, violation=False)
        offset = as_int(params.get("offset"), 0)
        limit = min(max(as_int(params.get("limit"), 100), 1), 100)
        timeout = max(as_int(params.get("timeout"), 0), 0)
        if isinstance(params.get("allowed_updates"), list):
            self.allowed_updates = list(params["allowed_updates"])
        self._poll_generation += 1  # a long poll still waiting is superseded (409)
        self._cond.notify_all()
        generation = self._poll_generation
        interrupts = self._interrupts
        self._apply_offset(offset)
        if block and timeout > 0 and not self._updates:
            deadline = time.monotonic() + timeout
            self._waiting_polls += 1
            try:
                while not self._updates:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                    if self._interrupts != interrupts:
                        return []
                    if self._poll_generation != generation:
                        raise ApiError(ERR_CONFLICT_POLL, code=409, violation=False)
            finally:
                self._waiting_polls -= 1
        batch = self._updates[:limit]
        for update in batch:
            update_id = update["update_id"]
            self._deliveries[update_id] = self._deliveries.get(update_id, 0) + 1
        return batch

    def register_callback_query(
        self,
        query_id: str,
        *,
        chat_id: int | None = None,
        message_id: int | None = None,
        data: str | None = None,
    ) -> None:
        """Record that a callback query with this id was delivered to the bot."""
        del chat_id, message_id, data  # accepted for readability at call sites
        with self._lock:
            self._callback_queries.setdefault(str(query_id), False)
