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
