// Line charts with uPlot: x is a number (samples, or seconds), one or more y series.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface SeriesSpec {
  label: string;
  color: string;
  scale?: string;
}

export class LineChart {
  readonly element: HTMLElement;
  private plot: uPlot | null = null;

  constructor(
    private readonly title: string,
    private readonly xLabel: string,
    private readonly series: SeriesSpec[],
    private readonly width = 560,
    private readonly height = 220,
  ) {
    this.element = document.createElement('div');
    this.element.className = 'chart';
  }

  /** data[0] = x values, data[i] = series i-1; nulls leave gaps. */
  update(data: (number | null)[][]): void {
    if (!this.plot) {
      const scales = new Set(this.series.map((s) => s.scale ?? 'y'));
      const axes: uPlot.Axis[] = [{ label: this.xLabel }];
      let side = 3;
      for (const scale of scales) {
        const first = this.series.find((s) => (s.scale ?? 'y') === scale);
        axes.push({ scale, label: first?.label, side, size: 70 });
        side = 1;
      }
      this.plot = new uPlot(
        {
          title: this.title,
          width: this.width,
          height: this.height,
          scales: { x: { time: false } },
          series: [
            { label: this.xLabel },
            ...this.series.map((s) => ({
              label: s.label,
              stroke: s.color,
              width: 2,
              scale: s.scale ?? 'y',
              spanGaps: true,
              points: { show: true, size: 4 },
            })),
          ],
          axes,
        },
        data as uPlot.AlignedData,
        this.element,
      );
    } else {
      this.plot.setData(data as uPlot.AlignedData);
    }
  }

  destroy(): void {
    this.plot?.destroy();
    this.plot = null;
  }
}
