"""UI resources for the UI benchmark (bench/ui/): the 500-line TSX page of the transpile measurement and the
manifest pieces of the 50 "extra" extensions. Imported by bench/ui/extensions.py; `python3 fixtures.py page`
prints the 500-line page (to look at it, or to feed another transpiler).
"""

from __future__ import annotations

import sys

# Five entities of an admin page; each gets a type, a data hook, a sortable/filterable table and an edit
# form (what a real CRUD page of an extension looks like, repeated with different fields).
ENTITIES = [
    ("Order", "orders", [("customer", "string"), ("total", "number"), ("status", "string")]),
    ("Customer", "customers", [("email", "string"), ("country", "string"), ("orders", "number")]),
    ("Invoice", "invoices", [("amount", "number"), ("dueDate", "string"), ("paid", "boolean")]),
    ("Shipment", "shipments", [("carrier", "string"), ("weight", "number"), ("delivered", "boolean")]),
    ("Product", "products", [("sku", "string"), ("price", "number"), ("stock", "number")]),
]

HEADER = """import {{ useCallback, useContext, useEffect, useMemo, useReducer, useState, type ReactNode }} from 'react'
import {{ SymphonyContext }} from '@symphony'

// {variant}
type SortDir = 'asc' | 'desc'
interface Sort<T> {{ key: keyof T; dir: SortDir }}
interface Page {{ index: number; size: number }}

const PAGE_SIZES: number[] = [10, 25, 50, 100]

function compare<T>(a: T, b: T, sort: Sort<T>): number {{
  const x = a[sort.key] as unknown as string | number | boolean
  const y = b[sort.key] as unknown as string | number | boolean
  const r = x < y ? -1 : x > y ? 1 : 0
  return sort.dir === 'asc' ? r : -r
}}

function paginate<T>(rows: T[], page: Page): T[] {{
  const start = page.index * page.size
  return rows.slice(start, start + page.size)
}}

function Pager({{ page, total, onChange }}: {{ page: Page; total: number; onChange: (p: Page) => void }}) {{
  const pages = Math.max(1, Math.ceil(total / page.size))
  return (
    <div className="pager">
      <button disabled={{page.index === 0}} onClick={{() => onChange({{ ...page, index: page.index - 1 }})}}>Previous</button>
      <span>page {{page.index + 1}} of {{pages}}</span>
      <button disabled={{page.index + 1 >= pages}} onClick={{() => onChange({{ ...page, index: page.index + 1 }})}}>Next</button>
      <select value={{page.size}} onChange={{(e) => onChange({{ index: 0, size: Number(e.target.value) }})}}>
        {{PAGE_SIZES.map((s) => <option key={{s}} value={{s}}>{{s}} / page</option>)}}
      </select>
    </div>
  )
}}

function Section({{ title, children }}: {{ title: string; children: ReactNode }}) {{
  return (
    <section className="card">
      <h2>{{title}}</h2>
      {{children}}
    </section>
  )
}}
"""

ENTITY = """
interface {T} {{
  id: string
{fields}}}

function use{T}s(): {{ rows: {T}[]; error: string; reload: () => void }} {{
  const ctx = useContext(SymphonyContext)
  const [rows, setRows] = useState<{T}[]>([])
  const [error, setError] = useState<string>('')
  const reload = useCallback(async () => {{
    if (ctx.nc === undefined) {{ setError('no connection'); return }}
    try {{
      const msg = await ctx.nc.request('cirata.extensions.bigpage.{plural}', '{{}}', {{ timeout: 5000 }})
      setRows(JSON.parse(new TextDecoder().decode(msg.data)) as {T}[])
    }} catch (e) {{
      setError(`cannot load {plural}: ${{(e as Error).message}}`)
    }}
  }}, [ctx.nc])
  useEffect(() => {{ void reload() }}, [reload])
  return {{ rows, error, reload }}
}}

function {T}Table({{ rows, onEdit }}: {{ rows: {T}[]; onEdit: (row: {T}) => void }}) {{
  const [sort, setSort] = useState<Sort<{T}>>({{ key: 'id', dir: 'asc' }})
  const [filter, setFilter] = useState<string>('')
  const [page, setPage] = useState<Page>({{ index: 0, size: 25 }})
  const shown = useMemo(
    () => rows.filter((r) => JSON.stringify(r).toLowerCase().includes(filter.toLowerCase())).sort((a, b) => compare(a, b, sort)),
    [rows, filter, sort],
  )
  const header = (key: keyof {T}, label: string) => (
    <th onClick={{() => setSort({{ key, dir: sort.key === key && sort.dir === 'asc' ? 'desc' : 'asc' }})}}>
      {{label}} {{sort.key === key ? (sort.dir === 'asc' ? '▲' : '▼') : ''}}
    </th>
  )
  return (
    <>
      <input placeholder="Filter {plural}" value={{filter}} onChange={{(e) => setFilter(e.target.value)}} />
      <table className="table">
        <thead><tr>{{header('id', 'ID')}}{headers}<th /></tr></thead>
        <tbody>
          {{paginate(shown, page).map((r) => (
            <tr key={{r.id}}>
              <td>{{r.id}}</td>
{cells}              <td><button onClick={{() => onEdit(r)}}>Edit</button></td>
            </tr>
          ))}}
        </tbody>
      </table>
      <Pager page={{page}} total={{shown.length}} onChange={{setPage}} />
    </>
  )
}}

function {T}Form({{ row, onSave }}: {{ row: {T}; onSave: (row: {T}) => void }}) {{
  const [draft, setDraft] = useState<{T}>(row)
  const invalid = {validation}
  return (
    <form onSubmit={{(e) => {{ e.preventDefault(); if (!invalid) onSave(draft) }}}}>
{inputs}      <button type="submit" disabled={{invalid}}>Save</button>
    </form>
  )
}}
"""

FOOTER = """
type Tab = {tabs}
interface State {{ tab: Tab; editing: string | null; saved: number }}
type Action = {{ type: 'tab'; tab: Tab }} | {{ type: 'edit'; id: string | null }} | {{ type: 'saved' }}

function reducer(state: State, action: Action): State {{
  switch (action.type) {{
    case 'tab':
      return {{ ...state, tab: action.tab, editing: null }}
    case 'edit':
      return {{ ...state, editing: action.id }}
    case 'saved':
      return {{ ...state, editing: null, saved: state.saved + 1 }}
  }}
}}

export default function BigPage() {{
  const ctx = useContext(SymphonyContext)
  const [state, dispatch] = useReducer(reducer, {{ tab: '{first}', editing: null, saved: 0 }})
{hooks}  useEffect(() => {{ ctx.setTitle({{ '/': 'Home', '/bigpage': 'Big page' }}) }}, [])
  const save = (what: string) => (row: {{ id: string }}) => {{
    void ctx.nc?.request(`cirata.extensions.bigpage.${{what}}.save`, JSON.stringify(row), {{ timeout: 5000 }})
    dispatch({{ type: 'saved' }})
  }}
  return (
    <div className="page" data-testid="big-page">
      <nav className="tabs">
{tabButtons}      </nav>
      <p className="muted">{{state.saved}} saved; signed in as {{ctx.user.username}}</p>
{sections}    </div>
  )
}}
"""


def _default(kind: str) -> str:
    return {"string": "''", "number": "0", "boolean": "false"}[kind]


def _input(name: str, kind: str) -> str:
    if kind == "boolean":
        return (
            f"      <label>{name} <input type=\"checkbox\" checked={{draft.{name}}} "
            f"onChange={{(e) => setDraft({{ ...draft, {name}: e.target.checked }})}} /></label>\n"
        )
    conv = "Number(e.target.value)" if kind == "number" else "e.target.value"
    return (
        f"      <label>{name} <input value={{String(draft.{name})}} "
        f"onChange={{(e) => setDraft({{ ...draft, {name}: {conv} }})}} /></label>\n"
    )


def big_page(variant: str, lines: int = 500) -> str:
    """A realistic TSX admin page of exactly `lines` lines; `variant` lands in a comment (unique source)."""
    out = HEADER.format(variant=variant)
    tabs, hooks, buttons, sections = [], [], [], []
    for name, plural, fields in ENTITIES:
        validation = " || ".join(
            f"draft.{f} === ''" if k == "string" else f"draft.{f} < 0" for f, k in fields if k != "boolean"
        ) or "false"
        out += ENTITY.format(
            T=name,
            plural=plural,
            fields="".join(f"  {f}: {k}\n" for f, k in fields),
            headers="".join(f"{{header('{f}', '{f}')}}" for f, _ in fields),
            cells="".join(
                f"              <td>{{String(r.{f})}}</td>\n" for f, _ in fields
            ),
            validation=validation,
            inputs="".join(_input(f, k) for f, k in fields),
        )
        tabs.append(f"'{plural}'")
        hooks.append(f"  const {plural} = use{name}s()\n")
        buttons.append(
            f"        <button className={{state.tab === '{plural}' ? 'active' : ''}} "
            f"onClick={{() => dispatch({{ type: 'tab', tab: '{plural}' }})}}>{name}s</button>\n"
        )
        sections.append(
            f"      {{state.tab === '{plural}' && (\n"
            f"        <Section title=\"{name}s\">\n"
            f"          {{{plural}.error && <p className=\"form-error\">{{{plural}.error}}</p>}}\n"
            f"          <{name}Table rows={{{plural}.rows}} onEdit={{(r) => dispatch({{ type: 'edit', id: r.id }})}} />\n"
            f"          {{state.editing !== null && <{name}Form row={{{plural}.rows.find((r) => r.id === state.editing) ?? "
            f"{{ id: state.editing, {', '.join(f'{f}: {_default(k)}' for f, k in fields)} }}}} "
            f"onSave={{save('{plural}')}} />}}\n"
            f"        </Section>\n"
            f"      )}}\n"
        )
    out += FOOTER.format(
        tabs=" | ".join(tabs),
        first=ENTITIES[0][1],
        hooks="".join(hooks),
        tabButtons="".join(buttons),
        sections="".join(sections),
    )
    have = out.count("\n")
    if have > lines:
        raise ValueError(f"the page has {have} lines, more than {lines}")
    # Top up with a doc comment (what a real page would carry) to exactly `lines` lines.
    missing = lines - have
    if missing < 2:
        return out + "\n" * missing
    tabs_doc = [f" * - {name}s: a sortable, filterable table of {plural} with an edit form." for name, plural, _ in ENTITIES]
    body = [" * The administration page of the bigpage extension: one tab per kind of record."] + tabs_doc
    body += [f" * (note {i + 1}) Records are loaded over the user's NATS connection when the tab opens." for i in range(missing)]
    return "/**\n" + "\n".join(body[: missing - 2]) + "\n */\n" + out


def extra_home(prefix: str, title: str) -> str:
    """The JSX page of an extra extension (~50 lines: context, NATS request, a list)."""
    return f"""import {{ useContext, useEffect, useState }} from 'react'
import {{ SymphonyContext }} from '@symphony'

interface Item {{ id: string; name: string; updated: string }}

function Row({{ item }}: {{ item: Item }}) {{
  return (
    <tr>
      <td>{{item.id}}</td>
      <td>{{item.name}}</td>
      <td>{{new Date(item.updated).toLocaleString()}}</td>
    </tr>
  )
}}

export default function Home() {{
  const ctx = useContext(SymphonyContext)
  const [items, setItems] = useState<Item[]>([])
  const [error, setError] = useState<string>('')
  useEffect(() => {{
    ctx.setTitle({{ '/': 'Home', '/{prefix}': '{title}' }})
  }}, [])
  useEffect(() => {{
    const load = async () => {{
      if (ctx.nc === undefined) {{ setError('no connection'); return }}
      try {{
        const msg = await ctx.nc.request('cirata.extensions.{prefix}.list', '{{}}', {{ timeout: 2000 }})
        setItems(JSON.parse(new TextDecoder().decode(msg.data)) as Item[])
      }} catch (e) {{
        setError((e as Error).message)
      }}
    }}
    void load()
  }}, [ctx.nc])
  return (
    <section>
      <h1>{title}</h1>
      <p className="muted">Signed in as {{ctx.user.username}}; theme {{ctx.theme}}.</p>
      {{error && <p className="form-error">{{error}}</p>}}
      <table className="table">
        <thead><tr><th>ID</th><th>Name</th><th>Updated</th></tr></thead>
        <tbody>{{items.map((i) => <Row key={{i.id}} item={{i}} />)}}</tbody>
      </table>
    </section>
  )
}}
"""


def extra_widget(prefix: str, title: str) -> str:
    """A small dashboard widget; `data-testid="bench-widget"` marks it rendered."""
    return f"""import {{ useContext }} from 'react'
import {{ SymphonyContext }} from '@symphony'

export default function Widget() {{
  const ctx = useContext(SymphonyContext)
  return (
    <div data-testid="bench-widget">
      <strong>{title}</strong>: all good, {{ctx.user.username}}.
    </div>
  )
}}
"""


def extra_help(prefix: str, title: str) -> str:
    """A markdown help page (front matter + a few sections)."""
    return f"""---
title: {title} help
breadcrumbs:
  /help: Help
---
# {title}

{title} is one of the benchmark's extra extensions. It shows a list of items that it reads over NATS
(`cirata.extensions.{prefix}.list`) and offers a small dashboard widget.

## Using it

1. Open **{title}** from the sidebar.
2. The table lists the items, newest first.
3. The widget on the dashboard tells you whether the extension is healthy.

## Access

| what | subject |
|---|---|
| list items | `cirata.extensions.{prefix}.list` |

Ask your administrator for a role that may publish to `extensions.{prefix}.>` if the page shows an error.
"""


if __name__ == "__main__":
    if sys.argv[1:] == ["page"]:
        sys.stdout.write(big_page("variant: printed"))
    else:
        sys.exit("usage: fixtures.py page")
