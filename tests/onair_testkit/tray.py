"""A desktop panel's side of the system tray, on the test's session bus.

Linux tray icons are StatusNotifierItems: the app registers its item with
org.kde.StatusNotifierWatcher (the panel), and the item's menu is served over
com.canonical.dbusmenu. ``TrayHost`` is that watcher: it learns which item
the app registered, reads the menu's labels and whether each is enabled,
and clicks an item the way a panel does (a dbusmenu "clicked" event).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Optional

from dbus_next import BusType, Message, MessageType, Variant
from dbus_next.aio import MessageBus
from dbus_next.service import PropertyAccess, ServiceInterface, dbus_property, method, signal

WATCHER = "org.kde.StatusNotifierWatcher"


class _Watcher(ServiceInterface):
    def __init__(self):
        super().__init__(WATCHER)
        self.items: list[str] = []

    @method()
    def RegisterStatusNotifierItem(self, service: "s"):  # noqa: F821 (D-Bus signature)
        pass  # recorded with its sender by TrayHost._note_sender

    @method()
    def RegisterStatusNotifierHost(self, service: "s"):  # noqa: F821
        pass

    @dbus_property(access=PropertyAccess.READ)
    def RegisteredStatusNotifierItems(self) -> "as":  # noqa: F821
        return list(self.items)

    @dbus_property(access=PropertyAccess.READ)
    def IsStatusNotifierHostRegistered(self) -> "b":  # noqa: F821
        return True

    @dbus_property(access=PropertyAccess.READ)
    def ProtocolVersion(self) -> "i":  # noqa: F821
        return 0

    @signal()
    def StatusNotifierItemRegistered(self, service) -> "s":  # noqa: F821
        return service

    @signal()
    def StatusNotifierHostRegistered(self):
        return None


class TrayHost:
    """Run as ``with TrayHost(bus_address) as tray:`` before the app starts."""

    def __init__(self, bus_address: str):
        self.bus_address = bus_address
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tray-host", daemon=True)
        self._bus: Optional[MessageBus] = None
        self._watcher = _Watcher()
        #: (bus name, object path) of each item registered.
        self.registered: list[tuple[str, str]] = []

    def _run(self, coro, timeout: float = 10):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def __enter__(self) -> "TrayHost":
        self._thread.start()
        self._run(self._start())
        return self

    def __exit__(self, *exc) -> None:
        if self._bus is not None:
            self._loop.call_soon_threadsafe(self._bus.disconnect)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    async def _start(self) -> None:
        self._bus = await MessageBus(bus_address=self.bus_address, bus_type=BusType.SESSION).connect()
        self._bus.add_message_handler(self._note_sender)
        self._bus.export("/StatusNotifierWatcher", self._watcher)
        await self._bus.request_name(WATCHER)

    def _note_sender(self, msg: Message):
        if msg.message_type == MessageType.METHOD_CALL and msg.member == "RegisterStatusNotifierItem":
            service = msg.body[0]
            # An item names itself by its object path (on its sender's
            # connection) or by a bus name (at the default path).
            name, path = (msg.sender, service) if service.startswith("/") else (service, "/StatusNotifierItem")
            self.registered.append((name, path))
            self._watcher.items.append(f"{name}{path}")
            self._watcher.StatusNotifierItemRegistered(f"{name}{path}")
        return None  # the watcher interface still answers the call

    def wait_for_item(self, timeout: float = 20) -> tuple[str, str]:
        deadline = time.monotonic() + timeout
        while not self.registered:
            if time.monotonic() > deadline:
                raise TimeoutError("no tray item registered with the panel")
            time.sleep(0.1)
        return self.registered[-1]

    async def _call(self, name: str, path: str, interface: str, member: str, signature: str = "", body=()):
        reply = await self._bus.call(Message(destination=name, path=path, interface=interface, member=member,
                                             signature=signature, body=list(body)))
        if reply.message_type == MessageType.ERROR:
            raise RuntimeError(f"{interface}.{member}: {reply.error_name} {reply.body}")
        return reply.body

    async def _menu_path(self) -> tuple[str, str]:
        name, path = self.wait_for_item(0.1)
        (menu,) = await self._call(name, path, "org.freedesktop.DBus.Properties", "Get", "ss",
                                   ["org.kde.StatusNotifierItem", "Menu"])
        return name, menu.value

    def menu(self) -> dict[str, dict]:
        """The menu's items by label: {"label": {"id": n, "enabled": bool}}."""

        async def read():
            name, menu = await self._menu_path()
            _, layout = await self._call(name, menu, "com.canonical.dbusmenu", "GetLayout", "iias", [0, -1, []])
            items = {}

            def walk(node):
                item_id, props, children = node
                if "label" in props:
                    items[props["label"].value.replace("_", "")] = {
                        "id": item_id,
                        "enabled": props["enabled"].value if "enabled" in props else True,
                    }
                for child in children:
                    walk(child.value)

            walk(layout)
            return items

        return self._run(read())

    def click(self, label: str) -> None:
        """Clicks the menu item labelled ``label``, as a panel does."""
        item = self.menu()[label]

        async def click():
            name, menu = await self._menu_path()
            await self._call(name, menu, "com.canonical.dbusmenu", "Event", "isvu",
                             [item["id"], "clicked", Variant("i", 0), 0])

        self._run(click())
