package androidx.work;

import java.util.concurrent.TimeUnit;

public final class PeriodicWorkRequest extends WorkRequest {

    private PeriodicWorkRequest(Builder b) {
        super(b);
    }

    public static final class Builder extends WorkRequest.Builder<Builder, PeriodicWorkRequest> {

        public Builder(Class<? extends ListenableWorker> workerClass, long interval, TimeUnit unit) {
            super(workerClass);
        }

        Builder self() {
            return this;
        }

        public PeriodicWorkRequest build() {
            return new PeriodicWorkRequest(this);
        }
    }
}
