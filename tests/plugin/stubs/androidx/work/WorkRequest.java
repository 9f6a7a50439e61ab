package androidx.work;

import java.util.LinkedHashSet;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

public abstract class WorkRequest {

    public static final long MIN_BACKOFF_MILLIS = 10_000L;

    final UUID id = UUID.randomUUID();
    final Class<? extends ListenableWorker> workerClass;
    final Data input;
    final Set<String> tags;
    final long backoffMillis;

    WorkRequest(Builder<?, ?> b) {
        this.workerClass = b.workerClass;
        this.input = b.input;
        this.tags = new LinkedHashSet<>(b.tags);
        this.backoffMillis = b.backoffMillis;
    }

    public UUID getId() {
        return id;
    }

    public abstract static class Builder<B extends Builder<B, W>, W extends WorkRequest> {

        final Class<? extends ListenableWorker> workerClass;
        Data input = Data.EMPTY;
        final Set<String> tags = new LinkedHashSet<>();
        long backoffMillis = MIN_BACKOFF_MILLIS;

        Builder(Class<? extends ListenableWorker> workerClass) {
            this.workerClass = workerClass;
            tags.add(workerClass.getName());
        }

        abstract B self();

        public abstract W build();

        public B setInputData(Data data) {
            this.input = data;
            return self();
        }

        public B addTag(String tag) {
            tags.add(tag);
            return self();
        }

        public B setConstraints(Constraints constraints) {
            return self();
        }

        public B setInitialDelay(long delay, TimeUnit unit) {
            return self();
        }

        public B setBackoffCriteria(BackoffPolicy policy, long delay, TimeUnit unit) {
            this.backoffMillis = unit.toMillis(delay);
            return self();
        }

        public B setExpedited(OutOfQuotaPolicy policy) {
            return self();
        }
    }
}
