"""
Copyright 2025 Cirata.
"""
import asyncio
import json
import logging
import os

from cirata import symphony
from cirata.symphony.logging import configure_logging

configure_logging("catalog")

# --- Endpoint Handlers ---


async def list_handler(req):
    """Return all items from storage."""
    try:
        kv = await req.nc.jetstream().key_value("catalog_items")
        items = []
        for key in await kv.keys():
            entry = await kv.get(key)
            items.append(json.loads(entry.value.decode('utf-8')))
        return await req.respond(json.dumps(items).encode('utf-8'))
    except Exception as e:
        return await req.respond(
            json.dumps({"error": str(e)}).encode('utf-8')
        )


async def add_handler(req):
    """Add an item to storage."""
    try:
        item = json.loads(req.data.decode('utf-8'))
        item_id = item.get('id', str(hash(json.dumps(item))))
        kv = await req.nc.jetstream().key_value("catalog_items")
        await kv.put(f"item:{item_id}", json.dumps(item).encode('utf-8'))
        return await req.respond(
            json.dumps({"status": "created", "id": item_id}).encode('utf-8')
        )
    except Exception as e:
        return await req.respond(
            json.dumps({"error": str(e)}).encode('utf-8')
        )

# --- UI Content ---

page_content = """
import { useContext, useEffect, useState } from 'react'
import { SymphonyContext } from '@symphony'

const TIMEOUT = 5000

export default function CatalogPage() {
  const symphonyContext = useContext(SymphonyContext)
  const [items, setItems] = useState([])

  useEffect(() => {
    symphonyContext.setTitle({
      "/": "Home",
      "/catalog": "Catalog"
    })
    loadItems()
  }, [])

  const loadItems = async () => {
    if (symphonyContext.nc === undefined) return
    try {
      const reply = await symphonyContext.nc.request(
        'cirata.extensions.catalog.list',
        '',
        { timeout: TIMEOUT }
      )
      const text = new TextDecoder('utf-8').decode(reply.data)
      setItems(JSON.parse(text))
    } catch (err) {
      console.error('Failed to load items:', err)
    }
  }

  return (
    <div>
      <h1>Catalog</h1>
      <button onClick={loadItems}>Refresh</button>
      <ul>
        {items.map((item, i) => (
          <li key={i}>{item.name || JSON.stringify(item)}</li>
        ))}
      </ul>
    </div>
  )
}
"""

# --- Main ---


async def main():
    ext = symphony.Extension(
        name="Catalog",
        prefix="catalog",
        description="Manages a catalog of items"
    )

    # Capabilities
    ext.add_capability("sub", "extensions.catalog", "Catalog Extension")
    ext.add_capability("sub", "extensions.catalog.list", "List items")
    ext.add_capability("sub", "extensions.catalog.add", "Add items")

    if ext.token:
        # UI resources and navigation
        ext.add_resource("ui://catalog/home", "text/symphony-jsx", page_content)
        ext.add_route("/catalog", "ui://catalog/home")
        ext.add_menu("main", "Catalog", "/catalog", "fa-book")

        # Help page
        help_path = os.path.join(os.path.dirname(__file__), "pages", "help.md")
        if os.path.exists(help_path):
            with open(help_path) as f:
                ext.add_resource("ui://catalog/help", "text/markdown", f.read())
            ext.add_route("/help/extensions/Catalog", "ui://catalog/help")

        # Storage buckets
        ext.add_bucket("catalog_items", "Catalog item storage")

    # Run extension
    try:
        async with ext:
            if ext.token:
                endpoints = await ext.add_endpoints(
                    name="catalog",
                    version="1.0.0",
                    description="Catalog service"
                )
                group = endpoints.add_group(name="cirata.extensions.catalog")
                await group.add_endpoint(name="list", handler=list_handler)
                await group.add_endpoint(name="add", handler=add_handler)
            await ext.operate()
    except RuntimeError as e:
        logging.error(f"Unable to initialize: {e}")


if __name__ == '__main__':
    asyncio.run(main())
