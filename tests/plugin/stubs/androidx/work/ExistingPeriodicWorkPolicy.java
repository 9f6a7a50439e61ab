package androidx.work;

public enum ExistingPeriodicWorkPolicy {
    REPLACE, KEEP, UPDATE, CANCEL_AND_REENQUEUE
}
