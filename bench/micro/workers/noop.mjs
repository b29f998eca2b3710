// piscina no-op task: the pure hand-off cost (structured clone both ways, wake-ups, queueing).
export default function noop(task) {
  return task?.n ?? 0;
}
