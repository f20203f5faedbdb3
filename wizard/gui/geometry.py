"""How big the wizard window is: a comfortable size, never larger than the screen it opens on.

The size is in device-independent pixels, not in character widths: a CJK font's average
character is about twice as wide as a Latin one, and sizing by it opened a 1800 px wide window
on a 1366 px screen.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize
from PySide6.QtWidgets import QWidget

#: What the wizard asks for when the screen has room.
PREFERRED = QSize(1000, 720)
#: The smallest size the pages are laid out for (a 1024×600 netbook screen still fits).
MINIMUM = QSize(640, 440)
#: Room for the title bar and borders a window manager adds around the window.
FRAME = QSize(16, 40)


def window_size(available: QSize) -> QSize:
    """The initial size of the window on a screen whose usable area is ``available``."""
    room = available - FRAME
    return PREFERRED.boundedTo(room).expandedTo(MINIMUM.boundedTo(room))


def minimum_size(available: QSize) -> QSize:
    """The smallest size the user may shrink the window to (never more than the screen)."""
    return MINIMUM.boundedTo(available - FRAME)


def fit_to(window: QWidget, available: QRect) -> None:
    """Size ``window`` for ``available`` (a screen's ``availableGeometry()``) and centre it there."""
    window.setMinimumSize(minimum_size(available.size()))
    size = window_size(available.size())
    window.resize(size)
    top_left = available.center() - QRect(0, 0, size.width(), size.height()).center()
    window.move(top_left.x(), max(available.top(), top_left.y() - FRAME.height() // 2))
