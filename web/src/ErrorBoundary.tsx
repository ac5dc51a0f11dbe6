import { Component, type ErrorInfo, type ReactNode } from "react";

interface Props {
  /** What failed, for the card's title ("page /catalog", "widget Status"). */
  label: string;
  /** Changing it clears a caught error (e.g. the route path). */
  resetKey?: string;
  children: ReactNode;
}

interface State {
  error: Error | null;
}

/** Every page and widget sits in one: a broken extension shows an error card, the shell keeps working. */
export class ErrorBoundary extends Component<Props, State> {
  state: State = { error: null };

  static getDerivedStateFromError(error: Error): State {
    return { error };
  }

  componentDidCatch(error: Error, info: ErrorInfo): void {
    console.error(`[symphony] ${this.props.label} failed`, error, info.componentStack);
  }

  componentDidUpdate(prev: Props): void {
    if (prev.resetKey !== this.props.resetKey && this.state.error) this.setState({ error: null });
  }

  render(): ReactNode {
    if (this.state.error) {
      return (
        <div className="card card-error" role="alert" data-testid="error-card">
          <h3>
            <i className="fa-solid fa-triangle-exclamation" /> {this.props.label} failed
          </h3>
          <pre className="error-text">{String(this.state.error.message || this.state.error)}</pre>
          <button type="button" className="btn" onClick={() => this.setState({ error: null })}>
            Try again
          </button>
        </div>
      );
    }
    return this.props.children;
  }
}
