package androidx.lifecycle;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/** A value observers see every change of, delivered on the thread that posts it. */
public class LiveData<T> {

    private final List<Observer<? super T>> observers = new CopyOnWriteArrayList<>();
    private volatile T value;
    private final Consumer<Runnable> deliver;

    public LiveData(T initial, Consumer<Runnable> deliver) {
        this.value = initial;
        this.deliver = deliver;
    }

    public void observe(LifecycleOwner owner, Observer<? super T> observer) {
        observers.add(observer);
        final T current = value;
        if (current != null) {
            deliver.accept(() -> observer.onChanged(current));
        }
    }

    public T getValue() {
        return value;
    }

    public void post(T next) {
        value = next;
        for (Observer<? super T> o : observers) {
            deliver.accept(() -> o.onChanged(next));
        }
    }
}
