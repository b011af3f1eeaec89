"""The inbound processing worker: the webhook's streams → conversations, in order per chat.

`worker.InboundWorker` is the entry point (its docstring explains the design); the rest are its
parts: partition leases (`leases`), flood protection (`flood`), the customer-service window
(`window`), delivery statuses (`statuses`), media kept for staff (`media`), the message as
conversations receives it (`render`) and the metrics (`metrics`).
"""

from cienty_whatsapp.inbound.media import FileMediaStore, MediaStore, StoredMedia
from cienty_whatsapp.inbound.statuses import link_wamid
from cienty_whatsapp.inbound.worker import InboundWorker

__all__ = ["FileMediaStore", "InboundWorker", "MediaStore", "StoredMedia", "link_wamid"]
