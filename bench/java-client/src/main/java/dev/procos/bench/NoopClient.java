package dev.procos.bench;

import java.lang.management.ManagementFactory;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.camunda.bpm.client.ExternalTaskClient;
import org.camunda.bpm.client.topic.TopicSubscription;

/**
 * The reference client of {@code bench/worker_bench.ts}: Camunda's own Java external task client
 * subscribes to one topic and completes every task it fetches, doing no work, until {@code
 * --tasks} tasks are completed; then it prints one JSON line and exits 0 (1 on time-out, with
 * what it completed).
 *
 * <pre>
 * java -jar target/procos-bench-java-client.jar --base-url http://127.0.0.1:8080/engine-rest \
 *   --topic bench-noop --tasks 2000 --max-tasks 4 --async-response-timeout 5000 \
 *   --lock-duration 30000 [--worker-id ID] [--timeout-ms 600000]
 * </pre>
 *
 * Times, in the JSON, all in milliseconds: {@code startToFirstMs} from JVM start to the first
 * completion, {@code firstToLastMs} from the first to the last completion, {@code elapsedMs} from
 * the client's start (subscription open) to the last completion, {@code jvmUptimeMs} at the end,
 * {@code cpuMs} the process's CPU time when the last task was completed (start-up included).
 */
public final class NoopClient {
  private NoopClient() {}

  private static Map<String, String> parse(String[] args) {
    Map<String, String> m = new HashMap<>();
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (!a.startsWith("--") || i + 1 >= args.length) {
        throw new IllegalArgumentException("expected --name value pairs, got " + a);
      }
      m.put(a.substring(2), args[++i]);
    }
    return m;
  }

  private static String need(Map<String, String> m, String name) {
    String v = m.get(name);
    if (v == null) throw new IllegalArgumentException("--" + name + " is required");
    return v;
  }

  /** CPU time of this process so far (all threads, JIT and GC included), ns; -1 if unknown. */
  private static long processCpuNs() {
    java.lang.management.OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
    if (os instanceof com.sun.management.OperatingSystemMXBean sun) return sun.getProcessCpuTime();
    return -1;
  }

  public static void main(String[] args) throws InterruptedException {
    Map<String, String> a = parse(args);
    String baseUrl = need(a, "base-url");
    String topic = need(a, "topic");
    long tasks = Long.parseLong(need(a, "tasks"));
    int maxTasks = Integer.parseInt(a.getOrDefault("max-tasks", "10"));
    long asyncResponseTimeout = Long.parseLong(a.getOrDefault("async-response-timeout", "5000"));
    long lockDuration = Long.parseLong(a.getOrDefault("lock-duration", "30000"));
    String workerId = a.getOrDefault("worker-id", "procos-bench-java-" + ProcessHandle.current().pid());
    long timeoutMs = Long.parseLong(a.getOrDefault("timeout-ms", "600000"));

    AtomicLong completed = new AtomicLong();
    AtomicLong firstNs = new AtomicLong();
    AtomicLong lastNs = new AtomicLong();
    AtomicLong failed = new AtomicLong();
    CountDownLatch done = new CountDownLatch(1);

    long startNs = System.nanoTime();
    ExternalTaskClient client =
        ExternalTaskClient.create()
            .baseUrl(baseUrl)
            .workerId(workerId)
            .maxTasks(maxTasks)
            .asyncResponseTimeout(asyncResponseTimeout)
            .lockDuration(lockDuration)
            .build();
    TopicSubscription subscription =
        client
            .subscribe(topic)
            .lockDuration(lockDuration)
            .handler(
                (task, service) -> {
                  try {
                    service.complete(task);
                  } catch (RuntimeException e) {
                    failed.incrementAndGet();
                    System.err.println("complete failed: " + e);
                    return;
                  }
                  long now = System.nanoTime();
                  long n = completed.incrementAndGet();
                  if (n == 1) firstNs.set(now);
                  lastNs.set(now);
                  if (n >= tasks) done.countDown();
                })
            .open();

    boolean finished = done.await(timeoutMs, TimeUnit.MILLISECONDS);
    long cpuNs = processCpuNs();
    long endNs = lastNs.get() == 0 ? System.nanoTime() : lastNs.get();
    subscription.close();
    client.stop();

    long jvmStart = ManagementFactory.getRuntimeMXBean().getStartTime();
    long uptime = ManagementFactory.getRuntimeMXBean().getUptime();
    // nanoTime of the JVM start, approximately: now minus the uptime
    long jvmStartNs = System.nanoTime() - TimeUnit.MILLISECONDS.toNanos(uptime);
    double ms = 1e6;
    String json =
        String.format(
            java.util.Locale.ROOT,
            "{\"client\":\"camunda-external-task-client\",\"version\":\"7.24.0\","
                + "\"java\":\"%s\",\"topic\":\"%s\",\"workerId\":\"%s\",\"tasks\":%d,"
                + "\"completed\":%d,\"failed\":%d,\"finished\":%s,\"maxTasks\":%d,"
                + "\"asyncResponseTimeoutMs\":%d,\"lockDurationMs\":%d,\"jvmStartEpochMs\":%d,"
                + "\"startToFirstMs\":%.1f,\"firstToLastMs\":%.1f,\"elapsedMs\":%.1f,"
                + "\"jvmUptimeMs\":%d,\"cpuMs\":%.1f}",
            System.getProperty("java.version"),
            topic,
            workerId,
            tasks,
            completed.get(),
            failed.get(),
            finished,
            maxTasks,
            asyncResponseTimeout,
            lockDuration,
            jvmStart,
            firstNs.get() == 0 ? -1.0 : (firstNs.get() - jvmStartNs) / ms,
            firstNs.get() == 0 ? -1.0 : (endNs - firstNs.get()) / ms,
            (endNs - startNs) / ms,
            uptime,
            cpuNs < 0 ? -1.0 : cpuNs / ms);
    System.out.println(json);
    System.out.flush();
    System.exit(finished ? 0 : 1);
  }
}
