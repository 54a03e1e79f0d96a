from typing import Any

from lxml import etree

BUILT_FOR: str

class Level: ...

def level(tags: dict[str, Any]) -> Level: ...
def walk(
    node: etree._Element, tags: Level, found: dict[str, etree._Element], every: dict[str, list[etree._Element]]
) -> None: ...
