import { coalesce } from '@holdfast/client/delivery'
import { useSubscription } from '@holdfast/react'
import { useRef, useState } from 'react'

type Point = { series: string; value: number; seq: number }

const WIDTH = 300
const HEIGHT = 140
const POINTS = 120

/** A chart fed by a high-rate channel; `coalesce` keeps renders to one per frame whatever the rate. */
export function LiveChart() {
  const history = useRef(new Map<string, number[]>())
  const [, setVersion] = useState(0)
  const [received, setReceived] = useState(0)
  useSubscription<Point>('metrics', {
    delivery: coalesce((m) => m.data.series, 'frame'),
    onMessage: (m) => {
      const series = history.current.get(m.data.series) ?? []
      series.push(m.data.value)
      if (series.length > POINTS) series.shift()
      history.current.set(m.data.series, series)
      setReceived(m.data.seq)
      setVersion((v) => v + 1)
    },
  })
  return (
    <section>
      <h2>
        Live chart <small data-testid="chart-seq">{received}</small>
      </h2>
      <svg
        className="chart"
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        preserveAspectRatio="none"
        role="img"
        aria-label="live metrics"
      >
        {[...history.current].map(([name, values], i) => (
          <polyline
            key={name}
            fill="none"
            stroke={i === 0 ? '#2563eb' : '#dc2626'}
            strokeWidth={1.5}
            points={values
              .map((v, x) => `${(x / (POINTS - 1)) * WIDTH},${HEIGHT - (v / 100) * HEIGHT}`)
              .join(' ')}
          />
        ))}
      </svg>
    </section>
  )
}
