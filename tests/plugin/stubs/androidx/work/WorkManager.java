package androidx.work;

import android.content.Context;
import androidx.lifecycle.LiveData;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * WorkManager on the JVM: each request's worker really runs (on a background thread), its state
 * moves ENQUEUED → RUNNING → SUCCEEDED / FAILED / CANCELLED, and `Result.retry()` runs it again
 * after its backoff. Observers of a tag see every change on one "main" thread, as on Android.
 *
 * The one liberty: backoff is compressed to at most UPDRAFT_PLUGIN_BACKOFF_MS (default 300 ms)
 * so a retried download resumes within a test, not 10 s later.
 */
public final class WorkManager {

    private static final long MAX_BACKOFF_MS = Long.parseLong(
        System.getenv().getOrDefault("UPDRAFT_PLUGIN_BACKOFF_MS", "300")
    );
    /** WorkManager retries forever; a test stops after this many attempts. */
    private static final int MAX_ATTEMPTS = 20;

    /** One per app: each phone of a test is its own app process. */
    private static final Map<Context, WorkManager> INSTANCES = new java.util.HashMap<>();

    private final Context context;
    private final ScheduledExecutorService workers = Executors.newScheduledThreadPool(4, daemon("work"));
    private final ExecutorService main = Executors.newSingleThreadExecutor(daemon("livedata"));
    private final Map<UUID, Item> items = new ConcurrentHashMap<>();
    private final Map<String, UUID> unique = new ConcurrentHashMap<>();
    private final Map<String, LiveData<List<WorkInfo>>> byTag = new ConcurrentHashMap<>();

    private static java.util.concurrent.ThreadFactory daemon(String name) {
        return r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        };
    }

    private final class Item {

        final WorkRequest request;
        volatile WorkInfo.State state = WorkInfo.State.ENQUEUED;
        volatile Data output = Data.EMPTY;
        volatile Data progress = Data.EMPTY;
        volatile ListenableWorker worker;
        int attempts;

        Item(WorkRequest request) {
            this.request = request;
        }

        WorkInfo info() {
            return new WorkInfo(request.id, state, output, progress, request.tags);
        }
    }

    private WorkManager(Context context) {
        this.context = context;
    }

    public static synchronized void initialize(Context context, Configuration config) {
        Context app = context.getApplicationContext();
        if (INSTANCES.containsKey(app)) {
            throw new IllegalStateException("WorkManager is already initialized");
        }
        INSTANCES.put(app, new WorkManager(app));
    }

    public static synchronized WorkManager getInstance(Context context) {
        return INSTANCES.computeIfAbsent(context.getApplicationContext(), WorkManager::new);
    }

    private List<WorkInfo> infos(String tag) {
        List<WorkInfo> out = new ArrayList<>();
        for (Item i : items.values()) {
            if (i.request.tags.contains(tag)) {
                out.add(i.info());
            }
        }
        return out;
    }

    public Future<List<WorkInfo>> getWorkInfosByTag(String tag) {
        return CompletableFuture.completedFuture(infos(tag));
    }

    public LiveData<List<WorkInfo>> getWorkInfosByTagLiveData(String tag) {
        return byTag.computeIfAbsent(tag, t -> new LiveData<>(infos(t), main::execute));
    }

    private void changed(Item item) {
        for (String tag : item.request.tags) {
            LiveData<List<WorkInfo>> live = byTag.get(tag);
            if (live != null) {
                live.post(infos(tag));
            }
        }
    }

    public WorkContinuation beginUniqueWork(String name, ExistingWorkPolicy policy, OneTimeWorkRequest request) {
        return new WorkContinuation(() -> enqueueUniqueWork(name, policy, request));
    }

    public synchronized Operation enqueueUniqueWork(String name, ExistingWorkPolicy policy, OneTimeWorkRequest request) {
        UUID existing = unique.get(name);
        if (existing != null) {
            Item old = items.get(existing);
            if (old != null && !old.state.isFinished()) {
                if (policy == ExistingWorkPolicy.KEEP) {
                    return new Operation();
                }
                cancel(old);
            }
        }
        Item item = new Item(request);
        items.put(request.id, item);
        unique.put(name, request.id);
        changed(item);
        workers.execute(() -> run(item));
        return new Operation();
    }

    public Operation enqueueUniquePeriodicWork(String name, ExistingPeriodicWorkPolicy policy, PeriodicWorkRequest request) {
        // Periodic work (the Background Runner plugin's) is not part of an update; nothing runs it.
        return new Operation();
    }

    private void run(Item item) {
        if (item.state.isFinished()) {
            return;
        }
        item.attempts++;
        try {
            item.worker = item.request.workerClass
                .getConstructor(Context.class, WorkerParameters.class)
                .newInstance(context, new WorkerParameters(item.request.input, item.attempts - 1, p -> {
                    item.progress = p;
                    changed(item);
                }));
        } catch (ReflectiveOperationException e) {
            finish(item, WorkInfo.State.FAILED, Data.EMPTY);
            return;
        }
        item.state = WorkInfo.State.RUNNING;
        changed(item);
        ListenableWorker.Result result;
        try {
            result = ((Worker) item.worker).doWork();
        } catch (RuntimeException e) {
            result = ListenableWorker.Result.failure();
        }
        if (item.state == WorkInfo.State.CANCELLED) {
            return;
        }
        if (result instanceof ListenableWorker.Result.Success) {
            finish(item, WorkInfo.State.SUCCEEDED, result.output);
        } else if (result instanceof ListenableWorker.Result.Retry && item.attempts < MAX_ATTEMPTS) {
            item.state = WorkInfo.State.ENQUEUED;
            changed(item);
            workers.schedule(() -> run(item), Math.min(item.request.backoffMillis, MAX_BACKOFF_MS), TimeUnit.MILLISECONDS);
        } else {
            finish(item, WorkInfo.State.FAILED, result.output);
        }
    }

    private void finish(Item item, WorkInfo.State state, Data output) {
        synchronized (item) {
            if (item.state.isFinished()) {
                return;
            }
            item.output = output;
            item.state = state;
        }
        changed(item);
    }

    private void cancel(Item item) {
        ListenableWorker w = item.worker;
        if (w != null) {
            w.stopped = true;
        }
        finish(item, WorkInfo.State.CANCELLED, Data.EMPTY);
    }

    public Operation cancelUniqueWork(String name) {
        UUID id = unique.get(name);
        Item item = id == null ? null : items.get(id);
        if (item != null) {
            cancel(item);
        }
        return new Operation();
    }

    public Operation cancelAllWorkByTag(String tag) {
        for (Item i : items.values()) {
            if (i.request.tags.contains(tag)) {
                cancel(i);
            }
        }
        return new Operation();
    }
}
